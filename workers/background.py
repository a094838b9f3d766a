"""A thread that runs beside the worker's pool, started and stopped with the worker (a
Celery bootstep): the outbox relay and the audit chainer are two."""

from __future__ import annotations

import threading
from typing import Any

from celery import bootsteps


class BackgroundThreadStep(bootsteps.StartStopStep):
    """Runs `run(flask_app)` in a daemon thread named `thread_name`; `run` loops until
    `self.stopping` is set (wait on it between rounds)."""

    requires = {"celery.worker.components:Pool"}
    thread_name = "background"

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, worker: Any) -> None:
        from workers.celery_app import flask_app

        self._thread = threading.Thread(
            target=self.run, args=(flask_app,), name=self.thread_name, daemon=True
        )
        self._thread.start()

    def stop(self, worker: Any) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def run(self, flask_app: Any) -> None:
        raise NotImplementedError
