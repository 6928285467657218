"""The `openai` backend, one job per module (see backend.py)."""
