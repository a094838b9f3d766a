"""Web throughput and latency under load: the board's pages and JSON API under gunicorn with
the production settings, on PostgreSQL and Redis, driven by wrk at 32 concurrent
connections, beside the framework's own ceiling measured in the same run.

    make bench                                           (every benchmark; needs wrk)
    PYTHONPATH=$PWD .venv/bin/python bench/web.py
    BENCH_WEB_SIZES=1000 BENCH_WEB_ROUNDS=1 PYTHONPATH=$PWD .venv/bin/python bench/web.py
    BENCH_TREE=/tmp/before PYTHONPATH=$PWD .venv/bin/python bench/web.py
        (the board's server from another source tree, e.g. `git archive <commit> | tar -x
        -C /tmp/before`: "before" figures; the seeder, the migrations and the ceiling app
        stay this tree's)

Both servers run at once, each exactly as production runs the board: gunicorn with
gunicorn.conf.py (Dockerfile, docker-compose.yml), one on the board, one on the ceiling
app (bench/_ceiling_app.py: one primary-key SELECT through Flask-SQLAlchemy as JSON, and
50 indexed rows in a Jinja template). A Celery worker runs beside them, as in
production: its bookkeeping thread chains the audit rows the requests write. For each N
(BENCH_WEB_SIZES, default 1,000 and 100,000 cases) it seeds a database of its own
(`bench_web_<N>`, bench/seed.py; BENCH_WEB_REUSE=1 reuses one seeded before) and signs a
coordinator, a reviewer and a referrer in (password and TOTP code, as a person does).

1. Throughput at saturation, in rounds (BENCH_WEB_ROUNDS, 3): each round measures both
   ceilings, then every target, BENCH_WEB_SECONDS (5) each after a second of warm-up,
   with wrk -c 32. A target's share of its ceiling is taken within each round, against
   the ceiling measured minutes apart at most, and the median of the rounds is kept:
   the machine is shared, and its speed drifts by a third within an hour.
2. Latency at half load: requests arrive at random (Poisson) at half the rate the target
   sustained at saturation, each on a connection of its own opened when it arrives (as a
   proxy in front of gunicorn opens them), at most 32 at a time (bench/_openloop.py);
   each one's latency counts from when it was due. p50 and p99. At saturation every
   request also waits for the 31 before it (Little's law: with 32 requests always in
   flight, p50 is about 32 / throughput, so p50 < 50 ms there would need 640 requests
   a second, more than the 50-row ceiling itself reaches on 2 cores); the saturation
   percentiles are printed for information.
3. Memory, at the largest N: a fresh board server serves 10,000 requests (the reads in
   turn, in 2-second wrk bursts); each worker's RSS after the first 1,000 and after all
   10,000, and its peak (VmHWM).

Targets: the coordinator's dashboard, a reviewer's inbox, a case page (released, three
signed reviews), a case page of a case in review, the analytics dashboard, the API's case
read, and case submission through the API (a referrer's complete case without uploads:
validation, the case, its timeline entry and audit row in one transaction, the created
case back as JSON). For information, without a budget: the case's reviewers page, where
the coordinator assigns by hand (it reads the whole roster of reviewers).

Budgets at N = 100,000 (exit status 1 when one is missed): every page's throughput at
least 50% of the 50-row template ceiling, every API read's at least 50% of the
one-SELECT ceiling; at half load p50 under 50 ms and p99 under 250 ms; submissions at
least 200 a second; no errors; no web worker's RSS growing more than 10% from 1,000 to
10,000 requests.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
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
os.environ["TEST_DATABASE_URL"] = f"{SERVER_URL}/bench_web"
os.environ["TEST_REDIS_URL"] = REDIS_URL

import requests  # noqa: E402

from bench import _openloop  # noqa: E402
from tests.support.factories import case_body  # noqa: E402
from tests.support.processes import (  # noqa: E402
    BIN,
    Proc,
    free_port,
    mail_sink,
    service_env,
    start_worker,
    wait_until,
)

TREE = Path(os.environ.get("BENCH_TREE", ROOT)).resolve()
SIZES = [int(n) for n in os.environ.get("BENCH_WEB_SIZES", "1000,100000").split(",")]
ROUNDS = int(os.environ.get("BENCH_WEB_ROUNDS", "3"))
SECONDS = float(os.environ.get("BENCH_WEB_SECONDS", "5"))
WARMUP_SECONDS = float(os.environ.get("BENCH_WEB_WARMUP", "1"))
LATENCY_SECONDS = float(os.environ.get("BENCH_WEB_LATENCY_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_WEB_CONNECTIONS", "32"))
MEMORY_REQUESTS = int(os.environ.get("BENCH_WEB_MEMORY_REQUESTS", "10000"))  # 0: no memory run
MEMORY_FIRST = MEMORY_REQUESTS // 10
# The memory run's requests, in turn.
MEMORY_MIX = ("reviewer inbox", "case page", "API case read")
REUSE = os.environ.get("BENCH_WEB_REUSE", "") not in ("", "0")
ONLY = [name for name in os.environ.get("BENCH_WEB_ONLY", "").split(",") if name]

# The production web server's settings (Dockerfile, docker-compose.yml).
GUNICORN_CONF = ROOT / "gunicorn.conf.py"
# Budgets (issue 8), at the largest N.
CEILING_SHARE = 0.5
HALF_LOAD = 0.5
P50_BUDGET_MS = 50.0
P99_BUDGET_MS = 250.0
SUBMISSIONS_PER_SECOND = 200.0
RSS_GROWTH = 0.10
# A case in review in every seeded board (bench/seed.py keeps the newest cases open).
IN_REVIEW_SQL = (
    "SELECT max(id) FROM cases WHERE status = 'in_review' AND NOT restricted AND id <= :seeded"
)


@dataclass(frozen=True)
class Target:
    name: str
    kind: str  # "page", "api read", "submission", "ceiling"
    path: str
    method: str = "GET"
    who: str = ""  # whose credentials: a session cookie for pages, a bearer token for the API
    body: str | None = None
    ceiling: str | None = None  # the ceiling target it is compared with
    # False: measured and printed for information, no budget (see board_targets).
    budget: bool = True
    server: str = "board"  # which server answers it: "board" or "ceiling"


@dataclass(frozen=True)
class Run:
    """One wrk run's figures."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Figures:
    """A target's figures over the rounds, and at half load."""

    target: Target
    runs: list[Run]
    shares: list[float]  # of its ceiling, per round
    half_load: Run | None = None

    @property
    def rate(self) -> float:
        return statistics.median(r.rate for r in self.runs)

    @property
    def share(self) -> float:
        return statistics.median(self.shares) if self.shares else 0.0

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs) + (self.half_load.errors if self.half_load else 0)


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
        seeder.migrate(database_url)  # a database seeded before the latest migration
        print(f"  reusing {database_url.rsplit('/', 1)[-1]} ({have:,} cases)", flush=True)
        seeded = seeder.credentials(database_url)
    else:
        started = time.perf_counter()
        seeder.prepare(database_url, fresh=True)
        seeded = seeder.seed(database_url, cases, seed=1)
        print(f"  seeded {cases:,} cases in {time.perf_counter() - started:.0f} s", flush=True)
    seeded["in_review_case_id"] = _in_review_case(database_url, cases)
    return {**seeded, **sign_in_all(database_url, seeded)}


def _in_review_case(database_url: str, cases: int) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            found = conn.execute(text(IN_REVIEW_SQL), {"seeded": cases}).scalar()
    finally:
        engine.dispose()
    if found is None:
        raise SystemExit(f"no case in review among the {cases} seeded cases")
    return int(found)


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
    """gunicorn with the production configuration (gunicorn.conf.py) on a free port."""
    port = free_port()
    # The board from BENCH_TREE when given: --pythonpath puts it first (gunicorn puts its
    # cwd, this repository, before anything PYTHONPATH names).
    tree = ["--pythonpath", str(TREE)] if app.startswith("board:") and TREE != ROOT else []
    env = {k: v for k, v in env.items() if k != "PYTHONPATH"} if tree else env
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
    proc = Proc(name, [str(BIN / "gunicorn"), "-c", str(GUNICORN_CONF), *tree, app], env, logs)
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

Request = tuple[str, str, dict[str, str], str | None]


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal here


def lua_script(requests_: list[Request]) -> str:
    """A wrk script that sends the given requests in turn and prints its figures as JSON."""
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


def run_wrk(base: str, requests_: list[Request], *, seconds: float) -> Run:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua_script(requests_))
    try:
        command = [
            "wrk",
            "-t2",
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
    figures = json.loads(line.removeprefix("WRK_RESULT "))
    return Run(
        figures["requests"],
        figures["duration_us"] / 1e6,
        figures["p50_us"] / 1000,
        figures["p99_us"] / 1000,
        figures["errors"],
    )


def headers_for(target: Target, creds: dict[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    if target.kind == "page":
        headers["Cookie"] = creds["cookies"][target.who]
    elif target.kind in ("api read", "submission"):
        headers["Authorization"] = creds["tokens"][target.who]
    if target.body is not None:
        headers["Content-Type"] = "application/json"
    return headers


def request_of(target: Target, creds: dict[str, Any]) -> Request:
    return (target.method, target.path, headers_for(target, creds), target.body)


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


def saturate(base: str, target: Target, creds: dict[str, Any]) -> Run:
    request = request_of(target, creds)
    if WARMUP_SECONDS:
        run_wrk(base, [request], seconds=WARMUP_SECONDS)
    return run_wrk(base, [request], seconds=SECONDS)


def at_half_load(base: str, target: Target, creds: dict[str, Any], saturated: float) -> Run:
    """Requests arriving at random at half the saturation rate, at most 32 at a time, each
    on a connection opened when it arrives (bench/_openloop.py)."""
    method, path, headers, body = request_of(target, creds)
    rate = HALF_LOAD * saturated
    expected = 201 if target.kind == "submission" else 200
    warm = WARMUP_SECONDS or 1
    _openloop.run(base, method, path, headers, body, rate=rate, seconds=warm, ok=expected)
    run = _openloop.run(
        base,
        method,
        path,
        headers,
        body,
        rate=rate,
        seconds=LATENCY_SECONDS,
        connections=CONNECTIONS,
        ok=expected,
    )
    return Run(len(run.latencies_ms), run.seconds, run.p50_ms, run.p99_ms, run.errors)


CEILINGS = [
    Target("ceiling: one SELECT, JSON", "ceiling", "/ceiling/select", server="ceiling"),
    Target("ceiling: 50 rows, Jinja", "ceiling", "/ceiling/template", server="ceiling"),
]


def board_targets(seeded: dict[str, Any]) -> list[Target]:
    case_id, in_review = seeded["case_id"], seeded["in_review_case_id"]
    template, select_ = CEILINGS[1].name, CEILINGS[0].name
    return [
        Target("coordinator dashboard", "page", "/board", who="coordinator", ceiling=template),
        Target("reviewer inbox", "page", "/assignments", who="reviewer", ceiling=template),
        Target("case page", "page", f"/cases/{case_id}", who="coordinator", ceiling=template),
        Target(
            "case page (in review)",
            "page",
            f"/cases/{in_review}",
            who="coordinator",
            ceiling=template,
        ),
        Target("analytics dashboard", "page", "/analytics", who="coordinator", ceiling=template),
        # Not one of the pages: where the coordinator assigns by hand, opened when
        # routing needs help. It reads the whole roster (140 reviewers at 100,000 cases):
        # its cost follows the number of reviewers, not of cases. For information.
        Target(
            "case reviewers page",
            "page",
            f"/cases/{in_review}/staffing",
            who="coordinator",
            ceiling=template,
            budget=False,
        ),
        # The board's token sign-in and read audit and nothing else (bench/_ceiling_app.py),
        # on the ceiling's server: what any audited API read costs before its own work.
        Target(
            "API floor: sign-in + audit",
            "api read",
            "/floor/audited",
            who="coordinator",
            ceiling=select_,
            budget=False,
            server="ceiling",
        ),
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


def measure_all(
    bases: dict[str, str], targets: list[Target], creds: dict[str, Any]
) -> list[Figures]:
    """ROUNDS rounds of every ceiling and target at saturation; shares per round."""
    for target in [*CEILINGS, *targets]:
        check_target(bases[target.server], target, creds)
    # A first pass, not counted: every worker of both servers compiles its templates,
    # fills its statement caches and opens its connections before anything is timed
    # (without it the first round's ceilings came out a third low).
    for target in [*CEILINGS, *targets]:
        run_wrk(bases[target.server], [request_of(target, creds)], seconds=2)
    runs: dict[str, list[Run]] = {t.name: [] for t in [*CEILINGS, *targets]}
    shares: dict[str, list[float]] = {t.name: [] for t in targets}
    for number in range(1, ROUNDS + 1):
        print(f"  round {number} of {ROUNDS}", flush=True)
        ceiling_rate = {}
        for target in CEILINGS:
            run = saturate(bases["ceiling"], target, creds)
            runs[target.name].append(run)
            ceiling_rate[target.name] = run.rate
            _print_run(target.name, run)
        for target in targets:
            run = saturate(bases[target.server], target, creds)
            runs[target.name].append(run)
            share = run.rate / ceiling_rate[target.ceiling or ""]
            shares[target.name].append(share)
            _print_run(target.name, run, f"{share:5.0%} of its ceiling")
    return [Figures(t, runs[t.name], shares.get(t.name, [])) for t in [*CEILINGS, *targets]]


def _print_run(name: str, run: Run, note: str = "") -> None:
    print(
        f"    {name:<28} {run.rate:8.1f} req/s  p50 {run.p50_ms:7.1f} ms  "
        f"p99 {run.p99_ms:7.1f} ms  errors {run.errors}  {note}",
        flush=True,
    )


def measure_half_load(
    bases: dict[str, str], figures: list[Figures], creds: dict[str, Any]
) -> list[Figures]:
    out = []
    for f in figures:
        base = bases[f.target.server]
        run = at_half_load(base, f.target, creds, f.rate)
        print(
            f"    {f.target.name:<28} {run.rate:8.1f} req/s at random, <= {CONNECTIONS} at once: "
            f"p50 {run.p50_ms:6.1f} ms  p99 {run.p99_ms:6.1f} ms  errors {run.errors}",
            flush=True,
        )
        out.append(Figures(f.target, f.runs, f.shares, run))
    return out


def memory(
    env: dict[str, str], logs: Path, targets: list[Target], creds: dict[str, Any]
) -> tuple[int, int, dict[int, tuple[int, int, int]]]:
    """A fresh server serves the reads in turn, in 2-second wrk bursts, until MEMORY_FIRST
    and then MEMORY_REQUESTS requests are done; each worker's RSS at both points and its
    peak: (requests at the first point, requests in all, {pid: (rss first, rss last, peak)})
    in KiB."""
    reads = [request_of(t, creds) for t in targets if t.name in MEMORY_MIX]
    web, base = start_gunicorn("board:create_app()", env, logs, "web-memory")
    try:
        pids = worker_pids(web.process.pid)
        done = 0
        while done < MEMORY_FIRST:
            done += run_wrk(base, reads, seconds=2).requests
        first_count = done
        first = {pid: rss_kib(pid)[0] for pid in pids}
        while done < MEMORY_REQUESTS:
            done += run_wrk(base, reads, seconds=2).requests
        if worker_pids(web.process.pid) != pids:
            raise SystemExit("a gunicorn worker was replaced during the memory run")
        return first_count, done, {pid: (first[pid], *rss_kib(pid)) for pid in pids}
    finally:
        web.stop()


# --- Report ------------------------------------------------------------------------------


def report(figures: list[Figures]) -> None:
    print(
        "\n  target                        req/s   share of ceiling (rounds)   "
        "saturated p50/p99 ms   half load: p50/p99 ms"
    )
    for f in figures:
        shares = ", ".join(f"{s:.0%}" for s in f.shares)
        share = f"{f.share:4.0%} ({shares})" if f.shares else "-"
        sat = f.runs[len(f.runs) // 2] if f.runs else None
        half = f.half_load
        name = f.target.name + ("" if f.target.budget else " *")
        print(
            f"  {name:<28} {f.rate:6.0f}   {share:<26}"
            f"  {sat.p50_ms if sat else 0:7.0f} / {sat.p99_ms if sat else 0:<7.0f}"
            f"   {half.p50_ms if half else 0:6.1f} / {half.p99_ms if half else 0:.1f}"
        )
    needed = CONNECTIONS / (P50_BUDGET_MS / 1000)
    if any(not f.target.budget for f in figures):
        print("  (* for information: no budget)")
    print(
        f"  (Little's law: at saturation p50 is about {CONNECTIONS} / throughput; under "
        f"{P50_BUDGET_MS:.0f} ms would take {needed:.0f} req/s)"
    )


def check_budgets(figures: list[Figures]) -> list[tuple[str, bool]]:
    checks = []
    for f in figures:
        name = f.target.name
        if f.target.kind == "ceiling" or not f.target.budget:
            continue
        checks.append((f"{name}: no errors ({f.errors})", f.errors == 0))
        if f.target.kind == "submission":
            checks.append(
                (
                    f"{name}: {f.rate:.0f}/s >= {SUBMISSIONS_PER_SECOND:.0f}/s",
                    f.rate >= SUBMISSIONS_PER_SECOND,
                )
            )
            continue
        checks.append(
            (
                f"{name}: {f.share:.0%} of its ceiling >= {CEILING_SHARE:.0%}",
                f.share >= CEILING_SHARE,
            )
        )
        if f.half_load is not None:
            p50, p99 = f.half_load.p50_ms, f.half_load.p99_ms
            checks.append(
                (
                    f"{name}: p50 {p50:.0f} ms < {P50_BUDGET_MS:.0f} ms at half load",
                    p50 < P50_BUDGET_MS,
                )
            )
            checks.append(
                (
                    f"{name}: p99 {p99:.0f} ms < {P99_BUDGET_MS:.0f} ms at half load",
                    p99 < P99_BUDGET_MS,
                )
            )
    return checks


def main() -> int:
    if shutil.which("wrk") is None:
        print("bench/web.py needs wrk (Debian: apt-get install wrk; `make bench` installs it)")
        return 1
    from bench._report import verdicts

    started = time.monotonic()
    logs = Path(tempfile.mkdtemp(prefix="bench-web-"))
    print(
        f"bench/web.py: gunicorn -c {GUNICORN_CONF.name} (board and ceiling), wrk -c{CONNECTIONS}"
        f" -t2; {ROUNDS} rounds of {SECONDS:.0f} s per target; board from {TREE}; logs in {logs}"
    )
    print(f"  load average before: {os.getloadavg()[0]:.1f}")
    checks: list[tuple[str, bool]] = []
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
            servers = [
                start_gunicorn("bench._ceiling_app:create_app()", env, logs, f"ceiling-{cases}"),
                start_gunicorn("board:create_app()", env, logs, f"web-{cases}"),
            ]
            worker = start_worker(env, logs, name=f"worker-{cases}", concurrency=1)
            bases = {"ceiling": servers[0][1], "board": servers[1][1]}
            try:
                figures = measure_all(bases, targets, creds)
                print("  at half load:", flush=True)
                figures = measure_half_load(bases, figures, creds)
            finally:
                worker.stop()
                for proc, _ in servers:
                    proc.stop()
            report(figures)
            if cases != max(SIZES):
                continue
            checks += [(f"N={cases:,} {name}", ok) for name, ok in check_budgets(figures)]
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
                checks.append(
                    (
                        f"web worker {pid} RSS grew {growth:+.1%} <= {RSS_GROWTH:.0%}",
                        growth <= RSS_GROWTH,
                    )
                )
    print(f"\n  load average after: {os.getloadavg()[0]:.1f}")
    return verdicts(checks, logs=logs, started=started)


if __name__ == "__main__":
    sys.exit(main())
