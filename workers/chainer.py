"""The audit chainer, run inside each worker process as a Celery bootstep.

A thread links the committed audit rows into the hash chain about once a second
(board/audit/services.py chain_pending). Every worker runs one; the advisory lock lets
one of them chain at a time and the others skip that tick, so adding worker nodes adds
no work and losing one loses nothing: another worker's thread carries on from the
chain's last row.
"""

from __future__ import annotations

import logging
from typing import Any

from workers.background import BackgroundThreadStep

log = logging.getLogger(__name__)


class AuditChainerStep(BackgroundThreadStep):
    thread_name = "audit-chainer"

    def run(self, flask_app: Any) -> None:
        from board.audit import services as audit

        every = float(flask_app.config["AUDIT_CHAIN_SECONDS"])
        with flask_app.app_context():
            while not self.stopping.is_set():
                try:
                    audit.chain_all()
                except Exception:
                    # The database may be restarting: the rows wait for the next tick.
                    log.exception("audit chainer step failed; retrying")
                self.stopping.wait(every)
