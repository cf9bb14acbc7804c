"""The parts of scripts/bench.py (run that; see its docstring)."""
