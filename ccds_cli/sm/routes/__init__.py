"""One router module per resource; `app.py` mounts them under /api/v1."""
