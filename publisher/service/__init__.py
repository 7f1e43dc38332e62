"""The service: the web process (ASGI app, guard, conditional GET, health, OpenAPI) and the
worker (scheduler, watcher, drain loop) under a supervisor; logging.

Wires the stages together. The web app never imports the worker, the sender or the transports:
what it needs of them reaches it through the store.
"""
