"""The audit chainer runs in every real Celery worker: rows written by the web side are
linked within seconds; two workers chain side by side without a fork; a worker killed
mid-stream loses nothing (the rows wait, and the next worker links them)."""

from __future__ import annotations

import threading
from pathlib import Path

import redis
from flask import Flask

from board.audit import services as audit
from board.extensions import db
from tests.support.processes import mail_sink, service_env, start_worker, wait_until


def _commit_rows(count: int) -> None:
    for n in range(count):
        audit.record("case_view", object_type="case", object_id=n + 1)
        db.session.commit()


def _pending() -> int:
    return audit.verify()[1].rows


def test_workers_chain_what_the_web_side_writes_and_a_killed_worker_loses_nothing(
    app: Flask, ctx: None, broker: redis.Redis, logs: Path
) -> None:
    with mail_sink() as mail:
        env = service_env(mail_port=mail.port, FLASK_AUDIT_CHAIN_SECONDS="0.2")
        first = start_worker(env, logs, name="worker-1", concurrency=1)
        second = start_worker(env, logs, name="worker-2", concurrency=1)
        try:
            # Rows arrive while both chainers are at work: no row twice, none skipped.
            writers = [threading.Thread(target=_write_in_context, args=(app, 60)) for _ in range(3)]
            for writer in writers:
                writer.start()
            for writer in writers:
                writer.join()
            wait_until(lambda: _pending() == 0, timeout=30, what="every row chained")
            verdict, _ = audit.verify()
            assert verdict.intact and verdict.rows == 180
        finally:
            second.stop()
        first.kill()  # SIGKILL: no goodbye
        first.stop()

        _commit_rows(25)  # no worker: the rows wait, unchained but kept
        assert _pending() == 25 and audit.verify()[0].rows == 180

        third = start_worker(env, logs, name="worker-3", concurrency=1)
        try:
            wait_until(lambda: _pending() == 0, timeout=30, what="the waiting rows chained")
        finally:
            third.stop()
    verdict, pending = audit.verify()
    assert verdict.intact and verdict.rows == 205 and pending.rows == 0


def _write_in_context(app: Flask, count: int) -> None:
    with app.app_context():
        _commit_rows(count)
        db.session.remove()
