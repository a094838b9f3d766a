"""Helpers for the benchmarks that run several Celery worker processes (bench/workers.py,
bench/memory.py): a database of their own, complete drafts seeded through the services
(as bench/routing.py does), a LISTEN/NOTIFY listener that stamps each routed case, and
worker processes started together."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
from flask import Flask

from bench.routing import REQUESTS, ROUTED_CHANNEL, SERVER, TRIGGER_SQL
from board import create_app
from board.auth.models import User
from board.auth.roles import Role
from board.cases import services as cases
from board.cases.schemas import CaseInput
from board.extensions import db
from board.validation import parse
from tests.support import factories as f
from tests.support.processes import Proc, wait_until, worker_command
from tests.support.services import RECORDS_DIR, RECORDS_KEY

ROOT = Path(__file__).resolve().parents[1]


def urls(database: str) -> tuple[str, str]:
    """(SQLAlchemy URL, libpq URL) of a bench database on BENCH_POSTGRES."""
    return f"postgresql+psycopg://{SERVER}/{database}", f"postgresql://{SERVER}/{database}"


def recreate_database(database: str) -> None:
    with psycopg.connect(f"postgresql://{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {database}")


def bench_app(database_url: str, broker_url: str, *, publish: bool) -> Flask:
    """The app in the bench process. With `publish`, a submit publishes its routing
    message to the broker right after its commit, as the web process does."""
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "OUTBOX_PUBLISH_ON_COMMIT": publish,
            "CELERY": {"broker_url": broker_url},
            "RECORDS_DIR": str(RECORDS_DIR),
            "RECORDS_KEY": RECORDS_KEY,
        }
    )


def migrate_with_trigger(app: Flask) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        logging.disable(logging.INFO)  # alembic's progress lines are not figures
        upgrade(directory=str(ROOT / "migrations"))
        logging.disable(logging.NOTSET)
        with db.engine.begin() as conn:
            conn.exec_driver_sql(TRIGGER_SQL)


def seed_people() -> User:
    """Reviewers with room for every case (capacity is not what is measured); the referrer."""
    away = f.institution("University Breast Center")
    reviewers = [f.user(Role.PATHOLOGIST, away) for _ in range(20)]
    reviewers += [f.user(Role.MEDICAL_ONCOLOGIST, away) for _ in range(10)]
    reviewers += [f.user(Role.RADIATION_ONCOLOGIST, away) for _ in range(10)]
    for reviewer in reviewers:
        reviewer.max_open_assignments = 1_000_000
    f.user(Role.COORDINATOR, away)
    referrer = f.user(Role.REFERRER, f.institution("Home Oncology"))
    db.session.commit()
    return referrer


def seed_drafts(referrer: User, count: int) -> list[tuple[int, int]]:
    """Complete drafts with a pathology report: (case id, assignments it will need)."""
    pdf = f.pdf()
    made = []
    for i in range(count):
        requested = REQUESTS[i % len(REQUESTS)]
        case = cases.create_draft(
            referrer, parse(CaseInput, f.case_body(requested_specialties=requested))
        )
        cases.add_record(referrer, case.id, kind="pathology_report", filename="path.pdf", data=pdf)
        made.append((case.id, 1 + len(requested)))
    return made


@dataclass
class Listener:
    """Stamps (time.perf_counter) the commit of each case's last needed assignment,
    heard through the deferred trigger of bench/routing.py."""

    libpq_url: str
    needed: dict[int, int] = field(default_factory=dict)
    heard_at: dict[int, float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    ready: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def expect(self, drafts: Sequence[tuple[int, int]]) -> None:
        with self.lock:
            self.needed.update(drafts)

    def start(self) -> None:
        threading.Thread(target=self._listen, name="listener", daemon=True).start()
        if not self.ready.wait(10):
            raise SystemExit("the LISTEN connection did not open")

    def _listen(self) -> None:
        with psycopg.connect(self.libpq_url, autocommit=True) as conn:
            conn.execute(f"LISTEN {ROUTED_CHANNEL}")
            self.ready.set()
            while not self.stop.is_set():
                for note in conn.notifies(timeout=0.5):
                    now = time.perf_counter()
                    case_text, count_text = note.payload.split()
                    case_id, count = int(case_text), int(count_text)
                    with self.lock:
                        wanted = self.needed.get(case_id)
                        if wanted is not None and count >= wanted and case_id not in self.heard_at:
                            self.heard_at[case_id] = now

    def wait_for(self, case_ids: Sequence[int], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(c in self.heard_at for c in case_ids):
                    return True
            time.sleep(0.05)
        return False


def start_workers(
    env: dict[str, str], logs: Path, processes: int, concurrency: int, extra: Sequence[str] = ()
) -> list[Proc]:
    """`processes` worker processes (prefork, `concurrency` pool children each), started
    at the same moment, each with its own node name; returns once all are ready."""
    procs = [
        Proc(
            f"worker{i}",
            worker_command(concurrency, "prefork", ["-n", f"bench{i}@%h", *extra]),
            env,
            logs,
        )
        for i in range(processes)
    ]
    for proc in procs:
        wait_until(
            lambda p=proc: "ready." in p.output() or p.process.poll() is not None,
            timeout=120,
            what="a Celery worker to start",
        )
        if proc.process.poll() is not None:
            raise SystemExit(f"worker exited:\n{proc.output()[-3000:]}")
    return procs


def tasks_done(proc: Proc) -> int:
    return proc.output().count(" succeeded in ")


def rss_bytes(pid: int) -> tuple[int, list[int]]:
    """(RSS of the process, RSS of each child): a prefork worker's pool children."""
    parent = psutil.Process(pid)
    children = [c.memory_info().rss for c in parent.children(recursive=True)]
    return parent.memory_info().rss, children


def quiet(app: Any) -> None:
    """Nothing of the bench's own app is a figure: its INFO lines are noise."""
    app.logger.setLevel(logging.WARNING)
