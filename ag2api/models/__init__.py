"""Models: which upstream model a client's name means — configured and shipped aliases
(``aliases``) over the models the accounts list, fetched live and cached (``catalog``) — what a
listed model is and how its id reads (``entries``, pure: the part ``translate/`` imports), and
what a model family is (``families``: Claude, Gemini 2.5/3, image models; thinking configs and
output caps)."""
