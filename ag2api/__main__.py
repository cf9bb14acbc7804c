"""`python -m ag2api` runs the command-line entry point."""

from ag2api.cli import main

raise SystemExit(main())
