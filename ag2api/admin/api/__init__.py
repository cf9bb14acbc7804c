"""The console's JSON API under /admin/api/ (the page uses it; scripts may too): what every handler
shares — authentication, the CSRF check on cookie writes, the write log (``common``); the gateway
at a glance (``overview``); the accounts with their state, quota and use, and changing them
(``accounts``), adding one by signing in (``signin``), import and export (``transfer``); and the
client keys by label (``keys``)."""
