"""Tests of publisher.store: the store, on SQLite and PostgreSQL."""
