"""Posting the site's forms as a browser does: from the page that carries the form (so with its
form token), with the page's origin in ``Origin``.

Every form that changes state (subscribe, manage, confirm) needs both since issue 10; the
one-click unsubscribe needs neither.
"""

from __future__ import annotations

import re
import time
from typing import Any

from starlette.testclient import TestClient

from publisher.mail.tokens import form_token as make_token

FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
OWN = "http://testserver"  # the test client's own origin


def form_token(html: str) -> str:
    """The form token a page's form carries."""
    found = FIELD.search(html)
    assert found is not None, html[:2000]
    return found.group(1)


def post_form(client: TestClient, path: str, data: dict[str, Any] | None = None) -> Any:
    """GET the form's page, then POST ``data`` to it with the page's token and origin."""
    token = form_token(client.get(path).text)
    fields = {**(data or {}), "csrf_token": token}
    return client.post(path, data=fields, headers={"Origin": OWN})


def post_signed(
    client: TestClient, path: str, key: bytes, data: dict[str, Any] | None = None
) -> Any:
    """POST to ``path`` with a good form token made for it (with the server's ``key``) and the
    site's origin: what gets past the cross-site checks to the route itself, even for a link no
    page would show a form for (an expired or forged one)."""
    token = make_token(key, path.lstrip("/"), time.time())
    fields = {**(data or {}), "csrf_token": token}
    return client.post(path, data=fields, headers={"Origin": OWN})
