"""Is the broker reachable? Used by the health endpoint and the dashboards."""

from __future__ import annotations

from flask import current_app


def broker_status() -> str:
    celery = current_app.extensions["celery"]
    if celery.conf.broker_url.startswith("memory://"):
        return "ok"  # in-process; the outbox table is the durable store
    try:
        with celery.connection_for_write() as conn:
            # One try, no retry sleep: the health answer must come at once.
            conn.ensure_connection(max_retries=0, timeout=1)
        return "ok"
    except Exception:
        return "down"
