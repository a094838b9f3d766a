"""The whole stack as a user meets it: gunicorn, a real Celery worker, SMTP,
PostgreSQL and Redis."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from flask import Flask

from tests.support.processes import MailSink, Proc, mail_sink, service_env, start_web, start_worker
from tests.support.services import REDIS_URL

ARTIFACTS = Path(__file__).parent / "artifacts"


@dataclass
class Stack:
    base_url: str
    mail: MailSink
    web: Proc
    worker: Proc


@pytest.fixture(scope="module")
def stack(app: Flask, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    redis.Redis.from_url(REDIS_URL).flushdb()
    logs = tmp_path_factory.mktemp("stack-logs")
    with mail_sink() as mail:
        env = service_env(mail_port=mail.port)
        web, base_url = start_web(env, logs)
        worker = start_worker(env, logs)
        try:
            yield Stack(base_url, mail, web, worker)
        finally:
            worker.stop()
            web.stop()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
