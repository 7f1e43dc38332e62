"""What operators and monitors read: the bodies of ``/healthz``, ``/api/status``, ``/metrics``
and of ``POST /api/publish``.

Status and metrics come from the store, so any web process shows every worker's tasks and the
content problems of the last publish, whichever process ran it. A task row whose heartbeat is
stale belongs to a process that died without stopping: the status marks it, the metrics count
such processes instead of reporting their last state as current.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from publisher.config.settings import Settings
from publisher.models import Problem, RelayState, RunReport
from publisher.service.schedule import forecast
from publisher.service.supervisor import is_stale
from publisher.store.meta import TaskHealth
from publisher.store.status import Status

RATE_WINDOW = timedelta(minutes=5)


def problem_of(problem: Problem) -> dict[str, str]:
    """One content problem as JSON."""
    return {
        "path": problem.path,
        "severity": problem.severity,
        "field": problem.field,
        "reason": problem.reason,
        "hint": problem.hint,
    }


def healthz_body(tasks: list[TaskHealth]) -> dict[str, Any]:
    """``/healthz`` for a process whose database answers: not ok when a task keeps failing."""
    failing = [
        {"task": t.task, "failures": t.failures, "last_error": t.last_error}
        for t in tasks
        if t.state == "unhealthy"
    ]
    states = {t.task: t.state for t in sorted(tasks)}
    return {"ok": not failing, "tasks": states} | ({"failing": failing} if failing else {})


def publish_body(report: RunReport) -> dict[str, Any]:
    """What one publish did; ``ok`` is false when a file or an output was not published."""
    errors = [p for p in report.skipped if p.severity == "error"]
    return {
        "ok": not (errors or report.refused),
        "new": report.new,
        "updated": report.updated,
        "removed": report.removed,
        "written": len(report.written),
        "refused": report.refused,
        "problems": [problem_of(p) for p in report.skipped],
    }


def _task(row: TaskHealth, now: datetime) -> dict[str, Any]:
    found: dict[str, Any] = row._asdict()
    found.update(changed=row.changed.isoformat(), seen=row.seen.isoformat())
    return found | {"stale": is_stale(row.seen, now)}


def status_body(settings: Settings, status: Status, now: datetime) -> dict[str, Any]:
    """The admin status. A job whose schedule cannot be computed is reported for that job
    (``schedule_errors``), never as a failure of the whole status."""
    runs, schedule_errors = forecast(settings, now)
    return {
        "articles": status.articles(),
        "problems": [problem_of(p) for p in status.problems()],
        "tasks": [_task(row, now) for row in status.tasks()],
        "outbox": status.deliveries(),
        "relays": [_relay(relay) for relay in status.relays()],
        "next_runs": {job: [t.isoformat() for t in times] for job, times in runs.items()},
        "schedule_errors": schedule_errors,
        "last_runs": {job: t.isoformat() for job, t in status.last_runs().items()},
    }


def _relay(relay: RelayState) -> dict[str, Any]:
    """A relay's state for the status: up, or down / refusing since when, why, next probe."""
    moments = {"since": relay.since, "probe_at": relay.probe_at}
    found = {name: moment.isoformat() if moment else None for name, moment in moments.items()}
    return {"relay": relay.relay, "state": relay.state, "reply": relay.reply} | found


def _relay_metrics(relays: list[RelayState]) -> list[str]:
    lines = [
        "# HELP publisher_relay_up Whether the relay takes mail (0: down or refusing the sender).",
        "# TYPE publisher_relay_up gauge",
    ]
    return lines + [
        f'publisher_relay_up{{relay="{_label(r.relay)}"}} {int(not r.paused)}' for r in relays
    ]


def _metric(name: str, kind: str, help: str, value: float) -> list[str]:
    return [
        f"# HELP publisher_{name} {help}",
        f"# TYPE publisher_{name} {kind}",
        f"publisher_{name} {value:g}",
    ]


def _label(value: str) -> str:
    """A Prometheus label value: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _unhealthy(row: TaskHealth) -> int:
    return int(row.state == "unhealthy")


def _task_metrics(rows: list[TaskHealth], now: datetime) -> list[str]:
    """Gauges of the supervised tasks of live processes, and how many processes went silent."""
    live = [row for row in rows if not is_stale(row.seen, now)]
    silent = {row.process for row in rows} - {row.process for row in live}
    lines = _metric(
        "tasks_unhealthy",
        "gauge",
        "Supervised tasks that keep failing, in every live process.",
        sum(map(_unhealthy, live)),
    )
    gauges: list[tuple[str, str, Callable[[TaskHealth], int]]] = [
        ("task_unhealthy", "Whether a supervised task keeps failing.", _unhealthy),
        ("task_failures", "Failures in a row of a supervised task.", lambda row: row.failures),
    ]
    for name, help, value in gauges:
        lines += [f"# HELP publisher_{name} {help}", f"# TYPE publisher_{name} gauge"]
        lines += [
            f'publisher_{name}{{process="{_label(row.process)}",task="{_label(row.task)}"}} '
            f"{value(row)}"
            for row in live
        ]
    help = "Processes whose tasks stopped sending heartbeats (died without stopping)."
    return lines + _metric("processes_silent", "gauge", help, len(silent))


def metrics_body(status: Status, publishes: int, now: datetime) -> str:
    """Prometheus text format: what the store holds, every live process's tasks, and the
    publishes run by this process."""
    activity = status.activity(now - RATE_WINDOW)
    rate = activity["sent"] / RATE_WINDOW.total_seconds()
    lines = [
        *_metric("articles", "gauge", "Articles present in the store.", status.articles()),
        *_metric("content_problems", "gauge", "Content problems found.", len(status.problems())),
        *_metric("issues_total", "counter", "Digest issues opened.", activity["issues"]),
        *_metric("publishes_total", "counter", "Publishes run by this process.", publishes),
        "# HELP publisher_deliveries Deliveries by state.",
        "# TYPE publisher_deliveries gauge",
        *(f'publisher_deliveries{{state="{s}"}} {n}' for s, n in status.deliveries().items()),
        *_metric("send_rate", "gauge", "Messages sent a second, last 5 minutes.", rate),
        *_metric(
            "send_failures", "gauge", "Deliveries failed, last 5 minutes.", activity["failed"]
        ),
    ]
    lines += _relay_metrics(status.relays())
    return "\n".join(lines + _task_metrics(status.tasks(), now)) + "\n"
