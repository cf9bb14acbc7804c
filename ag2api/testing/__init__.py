"""Test helpers shipped in the package (``--demo`` serves from the fake upstream)."""
