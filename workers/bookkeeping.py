"""The workers' bookkeeping thread, run inside each worker process as a Celery bootstep:

- about once a second it links the committed audit rows into the hash chain
  (board/audit/services.py chain_all);
- every few seconds it folds the case status counts into one row per status
  (board/cases/status_counts.py roll_up).

Every worker runs one. Both jobs are safe side by side (the chainer takes an advisory
lock, one chainer at a time; a rollup only replaces rows by their sum), so adding
worker nodes adds no work and losing one loses nothing: another worker carries on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from workers.background import BackgroundThreadStep

log = logging.getLogger(__name__)


class BookkeepingStep(BackgroundThreadStep):
    thread_name = "bookkeeping"

    def run(self, flask_app: Any) -> None:
        from board.audit import services as audit
        from board.cases import status_counts

        jobs: list[tuple[str, Callable[[], object], float]] = [
            ("audit chain", audit.chain_all, float(flask_app.config["AUDIT_CHAIN_SECONDS"])),
            (
                "status counts",
                status_counts.roll_up,
                float(flask_app.config["STATUS_COUNTS_ROLLUP_SECONDS"]),
            ),
        ]
        last = dict.fromkeys((name for name, _, _ in jobs), 0.0)
        tick = min(every for _, _, every in jobs)
        with flask_app.app_context():
            while not self.stopping.is_set():
                for name, job, every in jobs:
                    if time.monotonic() - last[name] < every:
                        continue
                    try:
                        job()
                    except Exception:
                        # The database may be restarting: the work waits for the next tick.
                        log.exception("bookkeeping (%s) failed; retrying", name)
                    last[name] = time.monotonic()
                self.stopping.wait(tick)
