"""The outbox relay, run inside each worker process as a Celery bootstep.

A thread publishes pending outbox rows and, every so often, sweeps rows that were
published but never finished back to pending. Running in the worker means the
embedded mode (in-memory broker) and the Redis mode work the same way; several
workers share the work through SKIP LOCKED.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from workers.background import BackgroundThreadStep

log = logging.getLogger(__name__)

SWEEP_EVERY_SECONDS = 5.0


class OutboxRelayStep(BackgroundThreadStep):
    thread_name = "outbox-relay"

    def run(self, flask_app: Any) -> None:
        from board.extensions import db
        from board.outbox import services as outbox

        poll = float(flask_app.config["OUTBOX_POLL_SECONDS"])
        in_memory = flask_app.extensions["celery"].conf.broker_url.startswith("memory://")
        last_sweep = 0.0
        with flask_app.app_context():
            if in_memory:
                # An in-memory broker kept nothing across the restart: whatever was
                # published and not finished is gone from it, so publish it again now.
                self._safely(lambda: outbox.sweep_once(older_than=dt.timedelta(0)))
            while not self.stopping.is_set():
                self._safely(outbox.relay_once)
                if time.monotonic() - last_sweep > SWEEP_EVERY_SECONDS:
                    self._safely(outbox.sweep_once)
                    last_sweep = time.monotonic()
                db.session.remove()
                self.stopping.wait(poll)

    @staticmethod
    def _safely(step: Any) -> None:
        from board.extensions import db

        try:
            step()
        except Exception:
            # The database may be restarting: try again on the next tick.
            log.exception("outbox relay step failed; retrying")
            db.session.rollback()
