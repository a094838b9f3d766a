"""Web throughput and latency under load: the board's pages and JSON API under gunicorn with
the production settings, on PostgreSQL and Redis, driven by wrk at 32 concurrent
connections, beside the framework's own ceiling measured in the same run.

    .venv/bin/python bench/web.py                       (or `make bench`; needs wrk)
    BENCH_WEB_SIZES=1000 BENCH_WEB_SECONDS=5 .venv/bin/python bench/web.py   (a quick look)
    BENCH_TREE=/tmp/before .venv/bin/python bench/web.py   (the board's server from another
        source tree, e.g. `git archive <commit> | tar -x -C /tmp/before`: "before" figures;
        the seeder, the migrations and the ceiling app stay this tree's)

gunicorn runs as docker-compose.yml's `web` service and the Dockerfile's CMD run it:
`--workers 3`, the default sync worker (one thread per worker, so at most 3 requests in
progress; the other connections wait in the listen backlog), access log on. For each N
(BENCH_WEB_SIZES, default 1,000 and 100,000 cases) it creates and migrates a database of its
own (`bench_web_<N>`; BENCH_WEB_REUSE=1 reuses one seeded before), seeds N cases
(bench/seed.py), signs a coordinator, a reviewer and a referrer in (tests/support/api.py:
password and TOTP code, through the pages for a session cookie and /api/v1/auth/token for
a bearer token), then times with wrk (-c 32, -t 2,
BENCH_WEB_SECONDS each after a warm-up):

- pages (session cookie): the coordinator's dashboard GET /board, a reviewer's inbox
  GET /assignments, a case page GET /cases/{id} (the coordinator's view; a reviewer's
  redirects to their assignment page), the analytics dashboard GET /analytics;
- API read (bearer token): GET /api/v1/cases/{id} (the coordinator's view);
- case submission (bearer token): POST /api/v1/cases, a referrer sending a complete case
  (patient, timepoint, question, diagnosis: the JSON body of tests/support/factories.py)
  without uploads. That is what the API intake does in one request: validation, the case,
  its timeline entry and audit row in one transaction, and the case back as JSON. Submitting
  a draft for review (POST /cases/{id}/submit) needs its records uploaded first, and it is
  bench/routing.py's subject (latency to assignment).

and the ceilings, under the same gunicorn settings (bench/_ceiling_app.py, not a route of the
board): one primary-key SELECT through Flask-SQLAlchemy answered as JSON, and 50 indexed
rows rendered in a Jinja template. Pages are compared with the template ceiling, the API read
(and, for information, the submission) with the one-SELECT ceiling.

Memory, at the largest N: a fresh gunicorn serves 10,000 requests (the inbox, the case page
and the API read in turn); each worker's RSS after the first 1,000 and after all 10,000, and
its peak (VmHWM).

Budgets at N = 100,000 (exit status 1 when one is missed): every page and API read p50 under
50 ms and p99 under 250 ms; throughput at least 50% of its ceiling; submissions at least
200/s; no web worker's RSS grows more than 10% from 1,000 to 10,000 requests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

POSTGRES = os.environ.get("BENCH_POSTGRES", "postgres@127.0.0.1:5432")
SERVER_URL = f"postgresql+psycopg://{POSTGRES}"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4")
# tests/support reads these at import: the sign-in helpers (factories.otp) find the bench's
# accounts in the bench database, and spawned servers get the bench's Redis.
# (The bench database of each size is named bench_web_<N>; TEST_DATABASE_URL follows it.)
os.environ["TEST_DATABASE_URL"] = f"{SERVER_URL}/bench_web"
os.environ["TEST_REDIS_URL"] = REDIS_URL

import requests  # noqa: E402

from tests.support.factories import case_body  # noqa: E402
from tests.support.processes import (  # noqa: E402
    BIN,
    Proc,
    free_port,
    mail_sink,
    service_env,
    wait_until,
)

TREE = Path(os.environ.get("BENCH_TREE", ROOT)).resolve()
SIZES = [int(n) for n in os.environ.get("BENCH_WEB_SIZES", "1000,100000").split(",")]
SECONDS = float(os.environ.get("BENCH_WEB_SECONDS", "10"))
WARMUP_SECONDS = float(os.environ.get("BENCH_WEB_WARMUP", "2"))
CONNECTIONS = int(os.environ.get("BENCH_WEB_CONNECTIONS", "32"))
MEMORY_REQUESTS = int(os.environ.get("BENCH_WEB_MEMORY_REQUESTS", "10000"))  # 0: no memory run
MEMORY_FIRST = MEMORY_REQUESTS // 10
# The memory run's requests, in turn: the reads that take tens of milliseconds (the
# dashboard and the analytics page, at seconds each under load at 100,000 cases, would
# make 10,000 requests last an hour).
MEMORY_MIX = ("reviewer inbox", "case page", "API case read")

# The production web server: docker-compose.yml `web` and the Dockerfile's CMD.
GUNICORN_ARGS = ["--workers", "3", "--access-logfile", "-"]
# Budgets (issue 8), at the largest N.
P50_BUDGET_MS = 50.0
P99_BUDGET_MS = 250.0
CEILING_SHARE = 0.5
SUBMISSIONS_PER_SECOND = 200.0
RSS_GROWTH = 0.10


@dataclass(frozen=True)
class Target:
    name: str
    kind: str  # "page", "api read", "submission", "ceiling"
    path: str
    method: str = "GET"
    who: str = ""  # whose credentials: a session cookie for pages, a bearer token for the API
    body: str | None = None
    ceiling: str | None = None  # the ceiling target it is compared with


@dataclass(frozen=True)
class Result:
    target: Target
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


REUSE = os.environ.get("BENCH_WEB_REUSE", "") not in ("", "0")
ONLY = [name for name in os.environ.get("BENCH_WEB_ONLY", "").split(",") if name]


# --- Seeding and signing in --------------------------------------------------------------


def seed_and_sign_in(database_url: str, cases: int) -> dict[str, Any]:
    """Seeds a fresh, migrated database (bench/seed.py), or with BENCH_WEB_REUSE one seeded
    before (the submissions of earlier runs stay in it), then signs the seeded coordinator,
    reviewer and referrer in through the test helpers, in this process."""
    from bench import seed as seeder
    from tests.support import factories, services

    # Where factories.otp() finds the accounts (its engine is cached per URL).
    services.DATABASE_URL = database_url
    factories._engine.cache_clear()
    have = seeder.seeded_cases(database_url)
    if REUSE and have is not None and have >= cases:
        print(f"  reusing {database_url.rsplit('/', 1)[-1]} ({have:,} cases)", flush=True)
        seeded = seeder.credentials(database_url)
    else:
        started = time.perf_counter()
        seeder.prepare(database_url, fresh=True)
        seeded = seeder.seed(database_url, cases, seed=1)
        print(f"  seeded {cases:,} cases in {time.perf_counter() - started:.0f} s", flush=True)
    return {**seeded, **sign_in_all(database_url, seeded)}


def sign_in_all(database_url: str, seeded: dict[str, Any]) -> dict[str, Any]:
    from board import create_app
    from tests.support.api import Api, sign_in

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECURE_TRANSPORT": False,
            "SESSION_COOKIE_SECURE": False,
            "SECRET_KEY": env_secret(),
        }
    )
    out: dict[str, Any] = {"cookies": {}, "tokens": {}}
    for who in ("coordinator", "reviewer", "referrer"):
        # The seeded accounts have tests/support/factories.py's password and TOTP secret;
        # the seeder's ready-made cookies and tokens are not used: a real sign-in is.
        email, password = seeded[who]["email"], seeded["password"]
        client = app.test_client()
        response = sign_in(client, email, password, csrf=True)
        assert response.status_code in (302, 303), (who, response.status_code)
        cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
        assert cookie is not None, who
        out["cookies"][who] = f"{cookie.key}={cookie.value}"
        api = Api(app.test_client(), email, password)
        out["tokens"][who] = api.headers["Authorization"]
    return out


def env_secret() -> str:
    return "bench-web-secret"


# --- Servers ----------------------------------------------------------------------------


def start_gunicorn(app: str, env: dict[str, str], logs: Path, name: str) -> tuple[Proc, str]:
    port = free_port()
    # The board from BENCH_TREE when given: --pythonpath puts it first (gunicorn puts its
    # cwd, this repository, before anything PYTHONPATH names).
    tree = ["--pythonpath", str(TREE)] if app.startswith("board:") and TREE != ROOT else []
    env = {k: v for k, v in env.items() if k != "PYTHONPATH"} if tree else env
    proc = Proc(
        name,
        [str(BIN / "gunicorn"), *GUNICORN_ARGS, *tree, "--bind", f"127.0.0.1:{port}", app],
        env,
        logs,
    )
    base = f"http://127.0.0.1:{port}"
    probe = "/ceiling/select" if "ceiling" in app else "/api/v1/health"

    def _up() -> bool:
        try:
            return requests.get(f"{base}{probe}", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_until(_up, timeout=60, what=f"{name} to answer")
    return proc, base


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return sorted(int(pid) for pid in children)


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


# --- wrk --------------------------------------------------------------------------------

_LUA_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal here


def lua_script(requests_: list[tuple[str, str, dict[str, str], str | None]]) -> str:
    """A wrk script that sends the given requests in turn, and prints its figures as JSON."""
    formats = []
    for method, path, headers, body in requests_:
        header_table = ", ".join(
            f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()
        )
        body_lua = _lua_string(body) if body is not None else "nil"
        call = f"{_lua_string(method)}, {_lua_string(path)}, {{{header_table}}}, {body_lua}"
        formats.append(f"wrk.format({call})")
    return (
        textwrap.dedent(
            f"""
        local requests = {{}}
        local i = 0
        init = function(args)
          {"; ".join(f"requests[{n + 1}] = {fmt}" for n, fmt in enumerate(formats))}
        end
        request = function()
          i = i % #requests + 1
          return requests[i]
        end
        """
        )
        + _LUA_DONE
    )


def run_wrk(
    base: str,
    requests_: list[tuple[str, str, dict[str, str], str | None]],
    *,
    seconds: float,
    threads: int = 2,
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua_script(requests_))
    try:
        command = [
            "wrk",
            f"-t{threads}",
            f"-c{CONNECTIONS}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "-s",
            script.name,
            base,
        ]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)
    line = next(line for line in out.splitlines() if line.startswith("WRK_RESULT "))
    return json.loads(line.removeprefix("WRK_RESULT "))  # type: ignore[no-any-return]


def headers_for(target: Target, creds: dict[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    if target.kind == "page":
        headers["Cookie"] = creds["cookies"][target.who]
    elif target.kind in ("api read", "submission"):
        headers["Authorization"] = creds["tokens"][target.who]
    if target.body is not None:
        headers["Content-Type"] = "application/json"
    return headers


def check_target(base: str, target: Target, creds: dict[str, Any]) -> None:
    """One request first: a page that redirects to sign-in or fails would time nothing."""
    response = requests.request(
        target.method,
        f"{base}{target.path}",
        headers=headers_for(target, creds),
        data=target.body,
        allow_redirects=False,
        timeout=120,
    )
    expected = 201 if target.kind == "submission" else 200
    if response.status_code != expected:
        raise SystemExit(
            f"{target.name}: {target.method} {target.path} answered {response.status_code}, "
            f"not {expected}: {response.text[:300]}"
        )


def measure(base: str, target: Target, creds: dict[str, Any]) -> Result:
    check_target(base, target, creds)
    request = (target.method, target.path, headers_for(target, creds), target.body)
    if WARMUP_SECONDS:
        run_wrk(base, [request], seconds=WARMUP_SECONDS)
    figures = run_wrk(base, [request], seconds=SECONDS)
    result = Result(
        target,
        requests=figures["requests"],
        seconds=figures["duration_us"] / 1e6,
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        errors=figures["errors"],
    )
    print(
        f"  {target.name:<28} {result.rate:8.1f} req/s  p50 {result.p50_ms:7.1f} ms  "
        f"p99 {result.p99_ms:7.1f} ms  errors {result.errors}",
        flush=True,
    )
    return result


CEILINGS = [
    Target("ceiling: one SELECT, JSON", "ceiling", "/ceiling/select"),
    Target("ceiling: 50 rows, Jinja", "ceiling", "/ceiling/template"),
]


def board_targets(seeded: dict[str, Any]) -> list[Target]:
    case_id = seeded["case_id"]
    template, select_ = CEILINGS[1].name, CEILINGS[0].name
    return [
        Target("coordinator dashboard", "page", "/board", who="coordinator", ceiling=template),
        Target("reviewer inbox", "page", "/assignments", who="reviewer", ceiling=template),
        Target("case page", "page", f"/cases/{case_id}", who="coordinator", ceiling=template),
        Target("analytics dashboard", "page", "/analytics", who="coordinator", ceiling=template),
        Target(
            "API case read",
            "api read",
            f"/api/v1/cases/{case_id}",
            who="coordinator",
            ceiling=select_,
        ),
        Target(
            "API case submission",
            "submission",
            "/api/v1/cases",
            method="POST",
            who="referrer",
            body=json.dumps(case_body()),
            ceiling=select_,
        ),
    ]


def memory(
    env: dict[str, str], logs: Path, targets: list[Target], creds: dict[str, Any]
) -> tuple[int, int, dict[int, tuple[int, int, int]]]:
    """A fresh server serves the reads in turn, in 2-second wrk bursts, until MEMORY_FIRST
    and then MEMORY_REQUESTS requests are done; each worker's RSS at both points and its
    peak: (requests at the first point, requests in all, {pid: (rss first, rss last, peak)})
    in KiB."""
    reads = [t for t in targets if t.name in MEMORY_MIX]
    requests_ = [(t.method, t.path, headers_for(t, creds), t.body) for t in reads]
    web, base = start_gunicorn("board:create_app()", env, logs, "web-memory")
    try:
        pids = worker_pids(web.process.pid)
        done = 0
        while done < MEMORY_FIRST:
            done += run_wrk(base, requests_, seconds=2)["requests"]
        first_count = done
        first = {pid: rss_kib(pid)[0] for pid in pids}
        while done < MEMORY_REQUESTS:
            done += run_wrk(base, requests_, seconds=2)["requests"]
        if worker_pids(web.process.pid) != pids:
            raise SystemExit("a gunicorn worker was replaced during the memory run")
        return first_count, done, {pid: (first[pid], *rss_kib(pid)) for pid in pids}
    finally:
        web.stop()


def report_latency_floor(ceilings: dict[str, Result]) -> None:
    """Little's law: with CONNECTIONS requests always in flight, the mean latency is
    CONNECTIONS / throughput, so a p50 under the budget needs about CONNECTIONS /
    P50_BUDGET_MS requests a second. Printed beside what the ceilings reach, so a missed
    p50 can be told apart from a slow page: when even a ceiling misses it, the budget asks
    for more than the framework does on this machine."""
    needed = CONNECTIONS / (P50_BUDGET_MS / 1000)
    print(
        f"  Little's law: p50 under {P50_BUDGET_MS:.0f} ms at {CONNECTIONS} connections needs "
        f"about {needed:.0f} req/s"
    )
    for ceiling in ceilings.values():
        verdict = "meets" if ceiling.p50_ms < P50_BUDGET_MS else "misses"
        print(
            f"    {ceiling.target.name:<28} {ceiling.rate:6.0f} req/s, "
            f"p50 {ceiling.p50_ms:.1f} ms: the ceiling itself {verdict} the p50 budget"
        )


def report_ratios(results: list[Result], ceilings: dict[str, Result]) -> None:
    for result in results:
        ceiling = ceilings[result.target.ceiling or ""]
        share = result.rate / ceiling.rate if ceiling.rate else 0.0
        print(
            f"  {result.target.name:<28} {share:6.0%} of '{ceiling.target.name}' "
            f"({ceiling.rate:.0f} req/s)"
        )


def check_budgets(results: list[Result], ceilings: dict[str, Result]) -> list[str]:
    missed = []
    for result in results:
        name = result.target.name
        if result.errors:
            missed.append(f"{name}: {result.errors} errors")
        if result.target.kind == "submission":
            if result.rate < SUBMISSIONS_PER_SECOND:
                missed.append(f"{name}: {result.rate:.0f}/s < {SUBMISSIONS_PER_SECOND:.0f}/s")
            continue
        if result.p50_ms >= P50_BUDGET_MS:
            missed.append(f"{name}: p50 {result.p50_ms:.0f} ms >= {P50_BUDGET_MS:.0f} ms")
        if result.p99_ms >= P99_BUDGET_MS:
            missed.append(f"{name}: p99 {result.p99_ms:.0f} ms >= {P99_BUDGET_MS:.0f} ms")
        ceiling = ceilings[result.target.ceiling or ""]
        share = result.rate / ceiling.rate if ceiling.rate else 0.0
        if share < CEILING_SHARE:
            missed.append(f"{name}: {share:.0%} of its ceiling < {CEILING_SHARE:.0%}")
    return missed


def main() -> int:
    if shutil.which("wrk") is None:
        print("bench/web.py needs wrk (Debian: apt-get install wrk; `make bench` installs it)")
        return 1
    logs = Path(tempfile.mkdtemp(prefix="bench-web-"))
    print(
        f"bench/web.py: gunicorn {' '.join(GUNICORN_ARGS)} (sync workers, 1 thread each), "
        f"wrk -c{CONNECTIONS} -t2, {SECONDS:.0f} s per target after {WARMUP_SECONDS:.0f} s "
        f"of warm-up; board from {TREE}; logs in {logs}"
    )
    print(f"  load average before: {os.getloadavg()[0]:.1f}")
    missed: list[str] = []
    with mail_sink() as mail:
        for cases in SIZES:
            print(f"\nN = {cases:,} cases", flush=True)
            database_url = f"{SERVER_URL}/bench_web_{cases}"
            env = service_env(
                mail_port=mail.port,
                database_url=database_url,
                redis_url=REDIS_URL,
                FLASK_SECRET_KEY=env_secret(),
                FLASK_RECORDS_DIR=str(logs / "records"),
            )
            creds = seed_and_sign_in(database_url, cases)
            targets = [t for t in board_targets(creds) if not ONLY or t.name in ONLY]

            ceiling_web, ceiling_base = start_gunicorn(
                "bench._ceiling_app:create_app()", env, logs, f"ceiling-{cases}"
            )
            try:
                ceilings = {t.name: measure(ceiling_base, t, creds) for t in CEILINGS}
            finally:
                ceiling_web.stop()
            web, base = start_gunicorn("board:create_app()", env, logs, f"web-{cases}")
            try:
                results = [measure(base, t, creds) for t in targets]
            finally:
                web.stop()
            report_latency_floor(ceilings)
            print("  throughput against the ceiling:")
            report_ratios(results, ceilings)
            if cases == max(SIZES):
                missed += [f"N={cases:,} {m}" for m in check_budgets(results, ceilings)]
                if ONLY or not MEMORY_REQUESTS:
                    continue
                print(
                    f"  memory: {MEMORY_REQUESTS:,} requests ({', '.join(MEMORY_MIX)} in turn) "
                    "on a fresh server",
                    flush=True,
                )
                first_count, count, workers = memory(env, logs, targets, creds)
                for pid, (first, last, peak) in workers.items():
                    growth = (last - first) / first
                    print(
                        f"    worker {pid}: RSS {first / 1024:.1f} MiB after {first_count:,}, "
                        f"{last / 1024:.1f} MiB after {count:,} ({growth:+.1%}), "
                        f"peak {peak / 1024:.1f} MiB"
                    )
                    if growth > RSS_GROWTH:
                        missed.append(f"worker {pid} RSS grew {growth:.1%} > {RSS_GROWTH:.0%}")
    print(f"\n  load average after: {os.getloadavg()[0]:.1f}")
    if missed:
        print("budgets MISSED:\n  " + "\n  ".join(missed))
        return 1
    print("budgets: all met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
