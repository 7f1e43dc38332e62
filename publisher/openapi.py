"""The admin API's OpenAPI description (served behind the admin token, like the API)."""

from __future__ import annotations

from typing import Any


def _operation(summary: str, done: str = "Done; a JSON object.", **extra: Any) -> dict[str, Any]:
    answers = {
        "200": {"description": done},
        "401": {"description": "No or a wrong bearer token."},
        "422": {"description": "The request names something that does not exist."},
        "503": {
            "description": "No admin token is configured, or the database cannot be reached: "
            '{"error": reason, "hint": what to check}.'
        },
    }
    return {"summary": summary, "security": [{"bearer": []}], "responses": answers, **extra}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "publisher admin API", "version": "1"},
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "paths": {
        "/api/publish": {
            "post": _operation(
                "Scan content/ and build now; optionally open a digest's issue too.",
                "What the publish did: new, updated and removed files, outputs written and "
                "refused, and every problem (path, severity, field, reason, hint). `ok` is false "
                "when a file could not be published (or never settled) or an output was refused.",
                parameters=[
                    {
                        "name": "digest",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                    }
                ],
            )
        },
        "/api/status": {
            "get": _operation(
                "Articles, content problems and deliveries by state; jobs and tasks.",
                "`problems`: the content problems of the last publish. `tasks`: the supervised "
                "tasks of every service process (state ok, failing, unhealthy or stopped; "
                "failures in a row; last error; `stale` when the process stopped sending "
                "heartbeats). `next_runs` per job; `schedule_errors` names a job whose schedule "
                "cannot be computed.",
            )
        },
        "/api/digests/{name}/send": {
            "post": _operation(
                "Open the digest's issue now; the worker sends it.",
                parameters=[
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
            )
        },
        "/api/openapi.json": {"get": _operation("This description.")},
    },
}
