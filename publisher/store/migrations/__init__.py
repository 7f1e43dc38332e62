"""Alembic migrations of the store; ``store.migrate`` runs them."""
