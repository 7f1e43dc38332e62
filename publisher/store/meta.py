"""Single values the store keeps for every process in its ``meta`` table, made once and shared:
each web process on any machine must sign and check with the same key, so it cannot live in a
process's memory or a file of one machine.
"""

from __future__ import annotations

import secrets

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from publisher.store.schema import meta

FORM_KEY = "form_key"  # the meta row holding the key that signs form tokens


def form_key(engine: Engine) -> bytes:
    """The key form tokens are signed with: made once, at random, and kept in the store's
    ``meta`` table so every web process (on any machine) signs and checks with the same one.
    Two processes starting at once both try to insert; the first one's key is everyone's.
    """
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    made = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(dialect.insert(meta).values(key=FORM_KEY, value=made).on_conflict_do_nothing())
        found = conn.execute(select(meta.c.value).where(meta.c.key == FORM_KEY)).scalar_one()
    return str(found).encode()
