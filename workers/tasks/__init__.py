"""Thin task wrappers: ids in, call a service, declare retries.

Every task is delivered at least once (acks late, redelivery by the outbox
sweeper), so every service it calls is idempotent. `outbox_id` lets the service
mark its outbox message done in the same transaction as its work.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable

from sqlalchemy.exc import OperationalError

from board.outbox import services as outbox

# Errors that pass with time: a restarting database, an SMTP server that is down.
TRANSIENT = (OperationalError, smtplib.SMTPException, ConnectionError, TimeoutError, OSError)
RETRY = {
    "autoretry_for": TRANSIENT,
    "retry_backoff": 2,  # 2, 4, 8 ... seconds
    "retry_backoff_max": 300,
    "retry_jitter": True,  # spread retries so a recovered server is not stampeded
    "max_retries": 8,
}


def run_delivery(outbox_id: int | None, work: Callable[[], object]) -> None:
    """Runs one delivery of an outbox message.

    The attempt is counted before the work (so a delivery that kills its worker
    counts toward parking a poison message) and given back when the failure is
    transient (a database restart or an SMTP outage is not the message's fault).
    Only one copy of a message runs at a time, so copies that overlap never use up
    a healthy message's attempts.
    """
    with outbox.delivery_lock(outbox_id) as mine:
        if not mine:
            # Another copy of this message (a sweeper's republish of one that was only
            # slow) is running now: it does the work, and this copy counts nothing.
            return
        if not outbox.begin_attempt(outbox_id):
            return
        try:
            work()
        except TRANSIENT as exc:
            outbox.release_attempt(outbox_id, f"{type(exc).__name__}")
            raise
