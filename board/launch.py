"""`make run`: migrate, seed the demo once, then run the web app, a Celery worker
(and, with Redis, beat) and a local SMTP sink until Ctrl-C.

With nothing configured everything is embedded: SQLite under instance/, Celery's
in-memory transport inside the worker process (the outbox table is the durable
store, so a restart loses nothing), and emails saved under instance/mail/.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from board.config import INSTANCE_DIR, PROJECT_ROOT

BIN = Path(sys.executable).parent
DEMO_ACCOUNTS = [
    ("referrer@demo.test", "referring oncologist"),
    ("referrer2@demo.test", "referring oncologist, another institution"),
    ("pathologist@demo.test", "breast pathologist"),
    ("surgeon@demo.test", "breast surgeon"),
    ("medonc@demo.test", "medical oncologist"),
    ("radonc@demo.test", "radiation oncologist"),
    ("radiologist@demo.test", "breast radiologist"),
    ("plastic@demo.test", "plastic surgeon"),
    ("coordinator@demo.test", "tumor-board coordinator"),
    ("admin@demo.test", "administrator"),
]
DEFAULT_DEMO_PASSWORD = "demo-board-2026"


def _port_free_or_any(preferred: int) -> int:
    """The preferred port if nothing listens there, else any free one."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise RuntimeError("no free port for the mail sink")


def _flask(*args: str, env: dict[str, str]) -> None:
    subprocess.run(
        [str(BIN / "flask"), "--app", "board", *args], check=True, env=env, cwd=PROJECT_ROOT
    )


def _demo_records_key() -> None:
    """The demo's records key, made once in instance/secrets/ (0600): never in the
    records folder. Production passes FLASK_RECORDS_KEY from its secret store."""
    from board.config import load_config
    from board.records.crypto import new_key_text

    key_file = Path(load_config()["RECORDS_KEY_FILE"])
    if key_file.exists():
        return
    key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(new_key_text() + "\n")
    print(f"Created the demo's records key in {key_file} (keep it: records need it).")


def main() -> int:
    INSTANCE_DIR.mkdir(exist_ok=True)
    port = os.environ.get("PORT", "5000")
    env = dict(os.environ)
    env.setdefault("DEMO_PASSWORD", DEFAULT_DEMO_PASSWORD)
    env.setdefault("FLASK_BASE_URL", f"http://127.0.0.1:{port}")
    # Local development over plain http: cookies without Secure, no HSTS.
    env.setdefault("FLASK_SECURE_TRANSPORT", "false")
    embedded = "REDIS_URL" not in env
    sink = "FLASK_MAIL_SERVER" not in env
    if sink:
        env["FLASK_MAIL_SERVER"] = "127.0.0.1"
        env["FLASK_MAIL_PORT"] = env.get("MAIL_PORT") or str(_port_free_or_any(8025))

    if "FLASK_RECORDS_KEY" not in env and "FLASK_RECORDS_KEY_FILE" not in env:
        _demo_records_key()

    print("Applying migrations and seeding the demo (once)...", flush=True)
    _flask("db", "upgrade", env=env)
    # Records from a version that kept their bytes in the database move to the store.
    _flask("records", "migrate", env=env)
    _flask("seed-demo", env=env)

    commands: dict[str, list[str]] = {}
    if sink:
        commands["smtp"] = [
            str(BIN / "python"),
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{env['FLASK_MAIL_PORT']}",
            "-c",
            "aiosmtpd.handlers.Mailbox",
            str(INSTANCE_DIR / "mail"),
        ]
    commands["web"] = [
        str(BIN / "gunicorn"),
        "--workers",
        "2",
        "--bind",
        f"127.0.0.1:{port}",
        "--access-logfile",
        "-",
        "board:create_app()",
    ]
    commands["worker"] = [
        str(BIN / "celery"),
        "-A",
        "workers.celery_app",
        "worker",
        "--pool",
        "threads",
        "--concurrency",
        "4",
        "--loglevel",
        "INFO",
    ]
    if not embedded:
        commands["beat"] = [
            str(BIN / "celery"),
            "-A",
            "workers.celery_app",
            "beat",
            "--schedule",
            str(INSTANCE_DIR / "celerybeat-schedule"),
            "--loglevel",
            "INFO",
        ]

    processes = {
        name: subprocess.Popen(cmd, env=env, cwd=PROJECT_ROOT) for name, cmd in commands.items()
    }
    _banner(port, env["DEMO_PASSWORD"], embedded, sink)

    def _stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        while True:
            for name, process in processes.items():
                if process.poll() is not None:
                    print(f"\n{name} stopped (exit {process.returncode}); stopping the rest.")
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nStopping web, worker and mail sink...")
        return 0
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _banner(port: str, password: str, embedded: bool, sink: bool) -> None:
    mode = (
        "embedded: SQLite in instance/, in-memory broker inside the worker"
        if embedded
        else "PostgreSQL and Redis from DATABASE_URL / REDIS_URL, with beat"
    )
    lines = [
        "",
        f"  The board is up at http://127.0.0.1:{port}/   ({mode})",
        f"  Demo password for every account: {password}   (set DEMO_PASSWORD to change)",
        "",
        *[f"    {email:<24} {what}" for email, what in DEMO_ACCOUNTS],
        "",
    ]
    if sink:
        lines.append(
            f"  Emails are delivered to a local SMTP sink and saved in {INSTANCE_DIR / 'mail'}"
        )
    lines.append("  Ctrl-C stops everything.\n")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
