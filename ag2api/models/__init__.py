"""Model-family rules shared by every client dialect."""
