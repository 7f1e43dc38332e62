"""The admin API's OpenAPI description (served behind the admin token, like the API).

Every operation says what each of its answers holds (a JSON schema per status), and a digest
name is one of the configured digests' names, so a client — or schemathesis in the test suite —
can check every answer against it.
"""

from __future__ import annotations

from typing import Any

from publisher.config.settings import Settings
from publisher.store.tally import STATES

JSON = "application/json"


def _object(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON object with exactly these properties, the first ones always present."""
    return {
        "type": "object",
        "required": sorted(required),
        "properties": required | (optional or {}),
        "additionalProperties": False,
    }


def _list(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def _map(values: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": values}


TEXT: dict[str, Any] = {"type": "string"}
COUNT: dict[str, Any] = {"type": "integer", "minimum": 0}
WHEN: dict[str, Any] = {"type": "string", "format": "date-time"}
MAYBE_WHEN: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
TEXTS = _list(TEXT)
ERROR = _object({"error": TEXT}, {"hint": TEXT})
PROBLEM = _object({name: TEXT for name in ("path", "severity", "field", "reason", "hint")})
TASK = _object(
    {
        "process": TEXT,
        "task": TEXT,
        "state": {"enum": ["ok", "failing", "unhealthy", "stopped"]},
        "failures": COUNT,
        "last_error": TEXT,
        "changed": WHEN,
        "seen": WHEN,
        "stale": {"type": "boolean"},
    }
)
RELAY = _object(
    {
        "relay": TEXT,
        "state": {"enum": ["up", "down", "refusing"]},
        "reply": TEXT,
        "since": MAYBE_WHEN,
        "probe_at": MAYBE_WHEN,
    }
)
STATUS = _object(
    {
        "articles": COUNT,
        "problems": _list(PROBLEM),
        "tasks": _list(TASK),
        "outbox": _map(COUNT),
        "relays": _list(RELAY),
        "next_runs": _map(_list(WHEN)),
        "schedule_errors": _map(TEXT),
        "last_runs": _map(WHEN),
    }
)


def _issue(names: list[str]) -> dict[str, Any]:
    """What opening a digest's issue did: opened (with the issue), or not and why."""
    name = {"enum": names}
    opened = _object(
        {
            "digest": name,
            "opened": {"const": True},
            "id": COUNT,
            "slot": TEXT,
            "subject": TEXT,
            "articles": COUNT,
            "recipients": COUNT,
        }
    )
    closed = _object({"digest": name, "opened": {"const": False}, "reason": TEXT})
    return {"oneOf": [opened, closed]}


def _publish(names: list[str]) -> dict[str, Any]:
    report = {
        "ok": {"type": "boolean"},
        "new": TEXTS,
        "updated": TEXTS,
        "removed": TEXTS,
        "written": COUNT,
        "refused": TEXTS,
        "problems": _list(PROBLEM),
    }
    return _object(report, {"issue": _issue(names)})


ISSUE_ID: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
STATE_COUNTS = _object({state: COUNT for state in STATES})
ISSUE = _object(
    {
        "id": COUNT,
        "digest": TEXT,
        "slot": TEXT,
        "opened": WHEN,
        "subject": TEXT,
        "recipients": COUNT,
        "states": STATE_COUNTS,
    }
)
ISSUE_DETAIL = _object(
    ISSUE["properties"]
    | {
        "articles": _list(_object({"title": TEXT, "slug": TEXT})),
        "replies": _list(_object({"state": {"enum": list(STATES)}, "reply": TEXT, "count": COUNT})),
    }
)
IMPORTED = _object({"added": COUNT, "updated": COUNT, "unchanged": COUNT, "refused": TEXTS})
# Any text: what is an address is email-validator's to say, not a JSON schema's. One that is
# not is reported in the answer (add, test) or is nobody's (unsubscribe, digests: 404).
ADDRESS: dict[str, Any] = {"type": "string"}


def _subscriber(names: list[str]) -> dict[str, Any]:
    status = {"enum": ["pending", "active", "unsubscribed", "bounced"]}
    return _object({"address": TEXT, "status": status, "digests": TEXTS})


def _answer(description: str, schema: dict[str, Any], media: str = JSON) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": schema}}}


def _request(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": schema}}}


def _operation(summary: str, done: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    media = extra.pop("media", JSON)
    answers = {
        "200": _answer(done, schema, media),
        "401": _answer("No or a wrong bearer token.", ERROR),
        "422": _answer("The request names something that does not exist.", ERROR),
        "503": _answer(
            "No admin token is configured, another publish is running, or the database "
            "cannot be reached: the reason, and what to check.",
            ERROR,
        ),
    }
    if extra.pop("finds", False):
        answers["404"] = _answer("No such issue or subscriber.", ERROR)
    return {"summary": summary, "security": [{"bearer": []}], "responses": answers, **extra}


def _digest_parameter(where: str, names: list[str]) -> dict[str, Any]:
    return {
        "name": "digest" if where == "query" else "name",
        "in": where,
        "required": where == "path",
        "schema": {"type": "string", "enum": names},
    }


def openapi_for(settings: Settings) -> dict[str, Any]:
    """The description of this site's admin API: its digests' names are the ones configured."""
    names = [digest.name for digest in settings.digests]
    publish = _operation(
        "Scan content/ and build now; optionally open a digest's issue too.",
        "What the publish did: new, updated and removed files, outputs written and refused, "
        "and every problem (path, severity, field, reason, hint). `ok` is false when a file "
        "could not be published (or never settled) or an output was refused.",
        _publish(names),
        parameters=[_digest_parameter("query", names)],
    )
    status = _operation(
        "Articles, content problems and deliveries by state; jobs and tasks.",
        "`problems`: the content problems of the last publish. `tasks`: the supervised tasks "
        "of every service process (state ok, failing, unhealthy or stopped; failures in a row; "
        "last error; `stale` when the process stopped sending heartbeats). `next_runs` per "
        "job; `schedule_errors` names a job whose schedule cannot be computed.",
        STATUS,
    )
    send = _operation(
        "Open the digest's issue now; the worker sends it.",
        "Whether an issue was opened (and which), or why not.",
        _issue(names),
        parameters=[_digest_parameter("path", names)],
    )
    description = _operation("This description.", "This description.", {"type": "object"})
    paths = {
        "/api/publish": {"post": publish},
        "/api/status": {"get": status},
        "/api/digests/{name}/send": {"post": send},
        "/api/openapi.json": {"get": description},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "publisher admin API", "version": "1"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": paths | _digest_paths(names) | _issue_paths() | _subscriber_paths(names),
    }


def _digest_paths(names: list[str]) -> dict[str, Any]:
    """Preview and test-send the next issue of a digest (``publisher preview``, ``send-test``)."""
    name = [_digest_parameter("path", names)]
    preview = _operation(
        "The next issue of the digest for a sample reader; nothing is stored or sent.",
        "Its subject, how many articles, the HTML part and what the fidelity gate refused.",
        _object(
            {"digest": {"enum": names}, "subject": TEXT, "articles": COUNT, "html": TEXT}
            | {"problems": TEXTS}
        ),
        parameters=name,
    )
    test = _operation(
        "Send the next issue of the digest to one address now; nothing is stored.",
        "The relay's reply; or, for an address that is no address, `sent` false and why.",
        _object(
            {"digest": {"enum": names}, "to": TEXT, "sent": {"type": "boolean"}, "reply": TEXT}
        ),
        parameters=name,
        requestBody=_request(_object({"to": ADDRESS})),
    )
    return {
        "/api/digests/{name}/preview": {"get": preview},
        "/api/digests/{name}/test": {"post": test},
    }


def _issue_paths() -> dict[str, Any]:
    """The issues, one issue, and an issue's two repairs."""
    number = [{"name": "id", "in": "path", "required": True, "schema": ISSUE_ID}]
    listed = _operation(
        "The newest issues (50), newest first, with their deliveries by state.",
        "The issues.",
        _object({"issues": _list(ISSUE)}),
    )
    one = _operation(
        "One issue: deliveries by state, its articles, the relay's replies grouped.",
        "The issue.",
        ISSUE_DETAIL,
        parameters=number,
        finds=True,
    )
    retry = _operation(
        "Queue the issue's failed deliveries to still-active readers again.",
        "How many were queued.",
        _object({"issue": COUNT, "queued": COUNT}),
        parameters=number,
        finds=True,
    )
    reactivate = _operation(
        "Make the readers this issue bounced active again (then retry its failures).",
        "The addresses made active.",
        _object({"issue": COUNT, "reactivated": TEXTS}),
        parameters=number,
        finds=True,
    )
    return {
        "/api/issues": {"get": listed},
        "/api/issues/{id}": {"get": one},
        "/api/issues/{id}/retry": {"post": retry},
        "/api/issues/{id}/reactivate": {"post": reactivate},
    }


def _subscriber_paths(names: list[str]) -> dict[str, Any]:
    """Find, add, unsubscribe, choose digests, import and export (``publisher subscribers``)."""
    subscriber = _subscriber(names)
    digests = _list({"enum": names})
    statuses = {"type": "string", "enum": ["", "pending", "active", "unsubscribed", "bounced"]}
    query = [
        {"name": "q", "in": "query", "schema": TEXT},
        {"name": "status", "in": "query", "schema": statuses},
        {"name": "digest", "in": "query", "schema": {"type": "string", "enum": ["", *names]}},
    ]
    find = _operation(
        "Subscribers whose address contains q, in a status, receiving a digest (first 100).",
        "How many match, and the first 100 by address.",
        _object({"total": COUNT, "subscribers": _list(subscriber)}),
        parameters=query,
    )
    add = _operation(
        "Add addresses as active subscribers of the digests (all when the list is empty).",
        "How many were added, updated or unchanged (unsubscribed and bounced ones are kept), "
        "and each text that is no address.",
        _object(IMPORTED["properties"] | {"problems": TEXTS}),
        requestBody=_request(_object({"addresses": _list(ADDRESS), "digests": digests})),
    )
    unsubscribe = _operation(
        "Unsubscribe one reader (kept, so never mailed again).",
        "The subscriber now.",
        subscriber,
        requestBody=_request(_object({"address": ADDRESS})),
        finds=True,
    )
    choose = _operation(
        "Set which digests one reader receives.",
        "The subscriber now.",
        subscriber,
        requestBody=_request(_object({"address": ADDRESS, "digests": digests})),
        finds=True,
    )
    imported = _operation(
        "Import CSV rows of email[,digests]; bad rows are reported by line, good ones kept.",
        "What the import did, and each refused row by line.",
        _object(IMPORTED["properties"] | {"problems": TEXTS}),
        requestBody=_request(_object({"csv": TEXT})),
    )
    export = _operation(
        "Every subscriber as CSV: email, digests, status.",
        "The CSV.",
        {"type": "string"},
        media="text/csv",
    )
    return {
        "/api/subscribers": {"get": find, "post": add},
        "/api/subscribers/unsubscribe": {"post": unsubscribe},
        "/api/subscribers/digests": {"post": choose},
        "/api/subscribers/import": {"post": imported},
        "/api/subscribers/export": {"get": export},
    }
