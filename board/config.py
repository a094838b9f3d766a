"""Configuration: code defaults, overridden by FLASK_* environment variables.

`DATABASE_URL` and `REDIS_URL` are honoured too, because that is how every host
(docker compose, a PaaS, CI) names them. With neither set, the board runs
embedded: SQLite under `instance/` and Celery's in-memory transport, with the
outbox table as the durable store (see board/outbox).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"


def _defaults() -> dict[str, Any]:
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'board.sqlite'}"
    redis_url = os.environ.get("REDIS_URL")
    broker_url = redis_url or "memory://"
    return {
        "SECRET_KEY": "dev-only-secret-change-me",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # A read-only copy (a PostgreSQL streaming replica) for the analytics dashboard's
        # aggregates (board/concordance/services.py); unset, they run on the primary.
        "ANALYTICS_DATABASE_URL": None,
        # The dashboard's figures are recomputed at most this often per web worker
        # (board/concordance/services.py _RecentFigures; the page says when they were
        # computed). 0 computes them on every view.
        "ANALYTICS_CACHE_SECONDS": 60,
        # Records are PDFs of a few pages; 20 MB leaves room for scanned reports.
        "MAX_CONTENT_LENGTH": 20 * 1024 * 1024,
        # Where record files (encrypted) are kept: "filesystem" (RECORDS_DIR) or "s3"
        # (an S3-compatible bucket, for several machines: docs/scaling.md).
        "RECORDS_STORE": "filesystem",
        # Record files (encrypted), outside any folder the web server serves.
        "RECORDS_DIR": str(INSTANCE_DIR / "records"),
        # The S3 store: the bucket, and the service's URL for anything but AWS itself
        # (MinIO, Ceph, ...). Credentials: RECORDS_S3_ACCESS_KEY_ID and
        # RECORDS_S3_SECRET_ACCESS_KEY, or boto3's chain (AWS_* variables, a role).
        "RECORDS_S3_BUCKET": None,
        "RECORDS_S3_ENDPOINT_URL": None,
        "RECORDS_S3_REGION": None,
        "RECORDS_S3_PREFIX": "records/",
        "RECORDS_S3_ACCESS_KEY_ID": None,
        "RECORDS_S3_SECRET_ACCESS_KEY": None,
        # The records key: base64 of 32 random bytes, passed from a secret store in
        # production (FLASK_RECORDS_KEY). Without it the key is read from RECORDS_KEY_FILE,
        # which `make run` creates for the demo; never inside RECORDS_DIR.
        "RECORDS_KEY": None,
        "RECORDS_KEY_FILE": str(INSTANCE_DIR / "secrets" / "records.key"),
        # Earlier keys, comma-separated, still read until `flask records migrate` re-seals.
        "RECORDS_RETIRED_KEYS": "",
        # A file with no row is an upload whose commit failed (or is still running):
        # `flask records verify` removes it once it is this old.
        "RECORDS_ORPHAN_GRACE_SECONDS": 3600,
        "WTF_CSRF_TIME_LIMIT": None,  # the session bounds a form's life, not a timer
        # Served over HTTPS (directly or behind a TLS proxy): cookies are Secure and HSTS
        # is sent. `make run` and the test servers (plain http on 127.0.0.1) set it false.
        "SECURE_TRANSPORT": True,
        "SESSION_COOKIE_NAME": "board_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Server-side sessions (board/auth/sessions.py): signed out after 15 minutes
        # without a request and 12 hours after sign-in, whatever happens meanwhile.
        "SESSION_IDLE_MINUTES": 15,
        "SESSION_ABSOLUTE_HOURS": 12,
        # "Last seen" is written at most this often, so a page view is not a write.
        "SESSION_TOUCH_SECONDS": 60,
        # Between the password and the second-factor code.
        "MFA_PENDING_MINUTES": 5,
        # argon2id at OWASP's parameters (board/auth/passwords.py); changing them rehashes
        # each password at its owner's next sign-in.
        "PASSWORD_ARGON2": {"time_cost": 2, "memory_cost": 19 * 1024, "parallelism": 1},
        # Login throttle (board/auth/throttle.py), shared by all workers through Redis;
        # without Redis (embedded mode, or an outage) each process counts for itself.
        "LOGIN_THROTTLE_REDIS_URL": redis_url,
        "LOGIN_THROTTLE_WINDOW_SECONDS": 15 * 60,
        "LOGIN_MAX_FAILURES_PER_ACCOUNT": 5,
        # Higher: a hospital's staff may share one NAT address.
        "LOGIN_MAX_FAILURES_PER_ADDRESS": 30,
        # Proxies in front of the app that append to X-Forwarded-For / X-Forwarded-Proto
        # (board/security.py). 0 trusts no forwarded header: right without a proxy.
        "PROXY_X_FOR": 0,
        "PROXY_X_PROTO": 0,
        # The service level of domain.md: a complete opinion within 7 calendar days.
        "REVIEW_DAYS": 7,
        # An urgent case (the referrer or the coordinator says so) is due sooner.
        "URGENT_REVIEW_DAYS": 3,
        # Reviewers are reminded this long before their assignment is due, and at due.
        "REMINDER_BEFORE_DUE_HOURS": 48,
        # How often beat runs the review clock (reminders, escalation). A minute is
        # plenty for hours-long deadlines; tests run it every second.
        "CLOCK_INTERVAL_SECONDS": 60,
        "API_TOKEN_HOURS": 12,
        # Break-glass (board/auth/policy.py): a coordinator who opens a restricted case
        # with a written reason sees it for this long, then must ask again.
        "BREAK_GLASS_MINUTES": 60,
        "BREAK_GLASS_MIN_REASON": 20,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": 8025,
        "MAIL_FROM": "board@localhost",
        "MAIL_TIMEOUT": 10,
        "BASE_URL": "http://127.0.0.1:5000",
        # Outbox: the web process publishes right after its commit when a real broker
        # is configured; the worker's relay thread publishes whatever that missed.
        "OUTBOX_PUBLISH_ON_COMMIT": redis_url is not None,
        "OUTBOX_POLL_SECONDS": 0.5,
        "OUTBOX_RELAY_GRACE_SECONDS": 2,
        # A published message not done after this long is republished (tasks are idempotent).
        "OUTBOX_REDELIVER_AFTER_SECONDS": 120,
        # A message delivered this many times without finishing is parked for the coordinator:
        # a poison task runs at most three times.
        "OUTBOX_MAX_ATTEMPTS": 3,
        # The workers' bookkeeping (workers/bookkeeping.py): how often new audit rows
        # are linked into the hash chain (the longest a committed row waits unchained),
        # and how often the case status counts are folded to one row per status.
        "AUDIT_CHAIN_SECONDS": 1.0,
        "STATUS_COUNTS_ROLLUP_SECONDS": 2.0,
        "CELERY": {
            "broker_url": broker_url,
            "task_ignore_result": True,
            "task_serializer": "json",
            "accept_content": ["json"],
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "worker_prefetch_multiplier": 1,
            "broker_transport_options": {
                # Longer than any task's time limit (60 s) plus countdown; kombu reads it
                # from both options, so it is set in both.
                "visibility_timeout": 3600,
                "polling_interval": 0.1,
                # A publish (the web process after its commit, the relay) tries the broker
                # once instead of retrying for broker_connection_timeout: with Redis down a
                # submit answered in 2 s, now in milliseconds. Nothing is lost: the outbox
                # row stays pending and the relay publishes it when Redis is back. The
                # worker's consumer reconnects by its own rule (broker_connection_max_retries).
                "max_retries": 0,
                # Redis that hangs (a frozen host, a network dropping packets) must not hold
                # a request for ever: without these a publish waited with no limit.
                "socket_connect_timeout": 2,
                "socket_timeout": 2,
            },
            "result_backend_transport_options": {"visibility_timeout": 3600},
            "task_time_limit": 60,
            "task_soft_time_limit": 50,
            "broker_connection_timeout": 2,
            "broker_connection_retry_on_startup": True,
            "task_default_queue": "board",
            "worker_hijack_root_logger": False,
        },
    }


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    config = _defaults()
    for key, raw in os.environ.items():
        if key.startswith("FLASK_") and key not in ("FLASK_APP", "FLASK_DEBUG", "FLASK_RUN_PORT"):
            config[key.removeprefix("FLASK_")] = _parse(raw)
    if overrides:
        for key, value in overrides.items():
            if key == "CELERY":
                config["CELERY"] = {**config["CELERY"], **value}
            else:
                config[key] = value
    config.setdefault("SESSION_COOKIE_SECURE", bool(config["SECURE_TRANSPORT"]))
    if config.get("ANALYTICS_DATABASE_URL"):
        config["SQLALCHEMY_BINDS"] = {
            **(config.get("SQLALCHEMY_BINDS") or {}),
            "analytics": config["ANALYTICS_DATABASE_URL"],
        }
    # Built from the final values, so FLASK_CLOCK_INTERVAL_SECONDS reaches beat; a
    # beat_schedule given in the overrides wins.
    config["CELERY"] = {"beat_schedule": _beat_schedule(config), **config["CELERY"]}
    return config


def _beat_schedule(config: dict[str, Any]) -> dict[str, Any]:
    interval = float(config["CLOCK_INTERVAL_SECONDS"])
    return {
        # The one periodic task: board.reviews.clock_service.run_clock. It is safe to
        # run twice (two beats by mistake send nothing twice), but one beat is the plan.
        "review-clock": {
            "task": "reviews.run_clock",
            "schedule": interval,
            # A tick still queued when the next one is due is dropped: the next one
            # does its work, and a worker back from an outage is not met by a backlog.
            "options": {"expires": interval},
        },
    }


def _parse(raw: str) -> Any:
    """Environment values arrive as text; numbers and booleans are read as such."""
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw
