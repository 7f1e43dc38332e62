"""The admin API's OpenAPI description (served behind the admin token, like the API).

Every operation says what each of its answers holds (a JSON schema per status), and a digest
name is one of the configured digests' names, so a client — or schemathesis in the test suite —
can check every answer against it.
"""

from __future__ import annotations

from typing import Any

from publisher.config.settings import Settings

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


def _answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _operation(summary: str, done: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    answers = {
        "200": _answer(done, schema),
        "401": _answer("No or a wrong bearer token.", ERROR),
        "422": _answer("The request names something that does not exist.", ERROR),
        "503": _answer(
            "No admin token is configured, another publish is running, or the database "
            "cannot be reached: the reason, and what to check.",
            ERROR,
        ),
    }
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
    return {
        "openapi": "3.1.0",
        "info": {"title": "publisher admin API", "version": "1"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": {
            "/api/publish": {"post": publish},
            "/api/status": {"get": status},
            "/api/digests/{name}/send": {"post": send},
            "/api/openapi.json": {"get": description},
        },
    }
