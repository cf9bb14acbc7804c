"""The console's JSON API under /admin/api/ (the page uses it; scripts may too)."""
