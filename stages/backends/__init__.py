"""Backends play generator and verifier. A new backend is one new module here plus a
line in `registry.py`."""
