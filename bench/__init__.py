"""Benchmarks: Freshet against the raw parts it is built from (`python -m bench`, bin/bench)."""
