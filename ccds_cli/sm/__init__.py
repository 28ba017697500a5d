"""The stream manager: routing (publish -> origin, subscribe -> edge), node registry, HA leader.

`create_app(settings)` in `app.py` builds the FastAPI application; `store.py` holds every data
access (no HTTP), so the routing logic is testable without a server.
"""
