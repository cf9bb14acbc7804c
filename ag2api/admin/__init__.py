"""The operator's side: the /admin pages and API, their sign-in sessions and throttle."""
