"""Record upload and download latency over HTTP (gunicorn, PostgreSQL), for a 1 MB and a
10 MB PDF, and the share of it that encryption at rest takes.

    .venv/bin/python bench/records.py
    BENCH_TREE=/path/to/an/older/checkout .venv/bin/python bench/records.py   # "before"

BENCH_TREE runs gunicorn (and the migrations) from another source tree, so the same
requests time a version that kept records in the database. Budget (exit status 1 when
missed): a 10 MB PDF's upload + download median under 3 s on this tree.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from tests.support.api import HttpApi  # noqa: E402
from tests.support.factories import PASSWORD, TOTP_SECRET, case_body  # noqa: E402
from tests.support.processes import BIN, Proc, mail_sink, service_env, start_web  # noqa: E402
from tests.support.services import RECORDS_KEY  # noqa: E402

TREE = Path(os.environ.get("BENCH_TREE", ROOT)).resolve()
POSTGRES = os.environ.get("BENCH_POSTGRES", "postgres@127.0.0.1:5432")
DATABASE = "bench_records"
DATABASE_URL = f"postgresql+psycopg://{POSTGRES}/{DATABASE}"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "8"))
SIZES = {"1 MB": 1 << 20, "10 MB": 10 << 20}
BUDGET_10MB_SECONDS = 3.0

ACCOUNT = """
from board import create_app
from board.auth import services as auth
from board.auth.roles import Role
from board.extensions import db
with create_app().app_context():
    inst = auth.create_institution("Bench Oncology", [])
    account = auth.create_user(email="bench@example.test", name="Dr. Bench",
                               role=Role.REFERRER, institution=inst,
                               password_hash=auth.hash_password({password!r}))
    # Enrolled in the second factor, as tests/support/factories.py user() does: the API
    # token asks for a code.
    account.totp_secret = {secret!r}
    account.totp_enrolled_at = account.created_at
    db.session.commit()
"""


def big_pdf(size: int, seed: int) -> bytes:
    """A valid one-page PDF of about `size` bytes: the page, and an unreferenced
    binary stream of random bytes (incompressible, like a scanned report)."""
    noise = random.Random(seed).randbytes(size)
    page = b"BT /F1 14 Tf 72 720 Td (Bench record) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length " + str(len(page)).encode() + b" >>\nstream\n" + page + b"\nendstream",
        b"<< /Length " + str(len(noise)).encode() + b" >>\nstream\n" + noise + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    trailer = f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    out += trailer.encode()
    return bytes(out)


def recreate_database() -> None:
    with psycopg.connect(f"postgresql://{POSTGRES}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')


def tree_env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "PYTHONPATH": str(TREE)}


def seal_timings() -> dict[str, float]:
    """Encryption alone, in this process: seal + open of each size (median ms)."""
    if TREE != ROOT:
        return {}
    from board.records import crypto

    key = crypto.decode_key(RECORDS_KEY, source="bench")
    out = {}
    for label, size in SIZES.items():
        data = os.urandom(size)
        samples = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            crypto.open_sealed(key, crypto.seal(key, data, b"aad"), b"aad")
            samples.append(time.perf_counter() - started)
        out[label] = statistics.median(samples) * 1000
    return out


def main() -> int:
    recreate_database()
    logs = Path(tempfile.mkdtemp(prefix="bench-records-"))
    records_dir = logs / "records"
    with mail_sink() as mail:
        env = service_env(
            mail_port=mail.port,
            database_url=DATABASE_URL,
            redis_url=None,
            FLASK_RECORDS_DIR=str(records_dir),
        )
        env = tree_env(env)
        flask = [str(BIN / "flask"), "--app", "board"]
        subprocess.run([*flask, "db", "upgrade"], env=env, cwd=TREE, check=True)
        subprocess.run(
            [str(BIN / "python"), "-c", ACCOUNT.format(password=PASSWORD, secret=TOTP_SECRET)],
            env=env,
            cwd=TREE,
            check=True,
        )
        # gunicorn imports the app from the tree under test:
        web: Proc
        # --pythonpath puts it first (gunicorn puts its own cwd, this repository, before
        # anything PYTHONPATH names).
        web_env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
        web, base = start_web(web_env, logs, extra_args=["--pythonpath", str(TREE)])
        try:
            api = HttpApi(base, "bench@example.test")
            figures: dict[str, tuple[float, float]] = {}
            for label, size in SIZES.items():
                created = api.post("/cases", case_body())
                assert created.status_code == 201, created.text
                case_id = created.json()["id"]
                uploads, downloads = [], []
                for round_ in range(ROUNDS + 1):
                    data = big_pdf(size, seed=round_)
                    started = time.perf_counter()
                    response = api.upload(case_id, "pathology_report", data, "scan.pdf")
                    uploaded = time.perf_counter()
                    assert response.status_code == 201, response.text
                    got = api.get(f"/records/{response.json()['id']}")
                    downloaded = time.perf_counter()
                    assert got.status_code == 200 and got.content == data
                    if round_:  # the first round warms the connections and the workers
                        uploads.append(uploaded - started)
                        downloads.append(downloaded - uploaded)
                figures[label] = (statistics.median(uploads), statistics.median(downloads))
        finally:
            web.stop()
    sealing = seal_timings()
    print(f"\nrecords over HTTP, tree {TREE}, {ROUNDS} rounds each, median:")
    for label, (up, down) in figures.items():
        crypto_ms = f"; seal+open alone {sealing[label]:.1f} ms" if label in sealing else ""
        print(
            f"  {label:>6}: upload {up * 1000:6.0f} ms, download {down * 1000:6.0f} ms, "
            f"both {(up + down) * 1000:6.0f} ms{crypto_ms}"
        )
    total = sum(figures["10 MB"])
    ok = total < BUDGET_10MB_SECONDS
    verdict = "ok" if ok else "MISSED"
    print(f"budget: 10 MB upload + download under {BUDGET_10MB_SECONDS} s: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
