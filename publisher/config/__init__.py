"""Settings: typed and frozen, from embedded defaults, ``config/publisher.toml`` and the
environment; the forms a value may take; cron lines checked without APScheduler.

Shared by every stage; imports only ``errors``, ``addresses`` and ``urls`` of the project.
"""
