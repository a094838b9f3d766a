"""Real processes for the tests that are about them: a gunicorn web server, a Celery
worker and an SMTP server, all on this machine's PostgreSQL and Redis."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import redis
import requests
from aiosmtpd.controller import Controller

from tests.support.services import DATABASE_URL, RECORDS_DIR, RECORDS_KEY, REDIS_URL, free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def wait_until(
    predicate: Callable[[], Any],
    timeout: float = 20.0,
    interval: float = 0.1,
    what: str = "condition",
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class MailSink:
    """A real SMTP server in this process; collects what it receives."""

    port: int
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@contextmanager
def mail_sink() -> Iterator[MailSink]:
    sink = MailSink(port=free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


def service_env(
    *,
    mail_port: int,
    database_url: str = DATABASE_URL,
    redis_url: str | None = REDIS_URL,
    **extra: str,
) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FLASK_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        {
            "DATABASE_URL": database_url,
            "FLASK_SECRET_KEY": "test-secret",
            # Plain http on 127.0.0.1, like `make run`: no Secure cookie, no HSTS.
            "FLASK_SECURE_TRANSPORT": "false",
            "FLASK_MAIL_SERVER": "127.0.0.1",
            "FLASK_MAIL_PORT": str(mail_port),
            # Republish a stuck message after seconds, not minutes, so tests stay short.
            "FLASK_OUTBOX_REDELIVER_AFTER_SECONDS": "3",
            "PYTHONUNBUFFERED": "1",
            "FLASK_RECORDS_DIR": str(RECORDS_DIR),
            "FLASK_RECORDS_KEY": RECORDS_KEY,
        }
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


class Proc:
    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            cmd,
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signals the whole process group (a prefork worker has children)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def worker_command(
    concurrency: int = 2, pool: str = "prefork", extra_args: Sequence[str] = ()
) -> list[str]:
    """The worker as start_worker runs it, for tests that must act before it is ready.
    `extra_args` adds options, such as `-I module` to load test-only tasks."""
    return [
        str(BIN / "celery"),
        "-A",
        "workers.celery_app",
        "worker",
        "--loglevel",
        "INFO",
        "--concurrency",
        str(concurrency),
        "--pool",
        pool,
        "--without-heartbeat",
        "--without-gossip",
        "--without-mingle",
        *extra_args,
    ]


def start_worker(
    env: dict[str, str],
    log_dir: Path,
    name: str = "worker",
    concurrency: int = 2,
    pool: str = "prefork",
    extra_args: Sequence[str] = (),
) -> Proc:
    proc = Proc(name, worker_command(concurrency, pool, extra_args), env, log_dir)
    wait_until(
        lambda: "ready." in proc.output() or proc.process.poll() is not None,
        timeout=60,
        what="the Celery worker to start",
    )
    assert proc.process.poll() is None, proc.output()
    return proc


def start_web(
    env: dict[str, str], log_dir: Path, extra_args: Sequence[str] = ()
) -> tuple[Proc, str]:
    """gunicorn on the app factory; `extra_args` adds options (e.g. an access log)."""
    port = free_port()
    proc = Proc(
        "web",
        [
            str(BIN / "gunicorn"),
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            *extra_args,
            "board:create_app()",
        ],
        env,
        log_dir,
    )
    base = f"http://127.0.0.1:{port}"

    def _up() -> bool:
        try:
            return requests.get(f"{base}/api/v1/health", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_until(_up, timeout=60, what="the web server to answer")
    return proc, base


class OwnRedis:
    """A throwaway redis-server on a free port (never the machine's Redis on 6379), with
    no persistence: a restart starts empty, like a crashed broker that lost its queues."""

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_dir = log_dir
        self.proc: Proc | None = None

    def start(self) -> None:
        command = [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]
        self.proc = Proc(f"redis-{self.port}", command, {}, self.log_dir)
        wait_until(self.answers, timeout=10, what=f"redis-server on port {self.port}")

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.stop()
        wait_until(lambda: not self.answers(), timeout=10, what="redis-server to stop")

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections but nothing answers, as with a
        hung server or a network that drops packets. The worst kind of outage."""
        assert self.proc is not None
        os.kill(self.proc.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.process.pid, signal.SIGCONT)
        wait_until(self.answers, timeout=10, what="redis-server to answer again")

    def answers(self) -> bool:
        try:
            client = redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5)
            return bool(client.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        if self.proc is not None and self.proc.process.poll() is None:
            os.kill(self.proc.process.pid, signal.SIGCONT)  # a frozen server cannot stop
            self.proc.stop()


def beat_command(schedule: Path) -> list[str]:
    """Celery beat as docker-compose.yml and `make run` start it, with its own
    schedule file (two beats sharing one would fight over it)."""
    return [
        str(BIN / "celery"),
        "-A",
        "workers.celery_app",
        "beat",
        "--loglevel",
        "INFO",
        "--schedule",
        str(schedule),
    ]


def start_beat(env: dict[str, str], log_dir: Path, name: str = "beat") -> Proc:
    proc = Proc(name, beat_command(log_dir / f"{name}-schedule"), env, log_dir)
    wait_until(
        lambda: "beat: Starting..." in proc.output() or proc.process.poll() is not None,
        timeout=60,
        what=f"Celery beat ({name}) to start",
    )
    assert proc.process.poll() is None, proc.output()
    return proc
