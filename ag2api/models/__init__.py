"""The models clients may use: the catalog (the live list, else the configured one), the aliases
that name them, and what each model family is."""
