"""The analytics dashboard: concordance, agreement between reviewers, turnaround,
workload and the board's major-change rates beside the published ranges.

Every figure is aggregated in the database (GROUP BY, COUNT ... FILTER, SUM) and
comes back as a handful of rows; Python only turns those counts into shares,
intervals and kappas (board.concordance.stats). The verdict figures are read from
summaries the review signing service keeps, one row per case or per case and
specialty instead of three verdicts per review (board.concordance.models and
summaries). Five queries in all:

1. verdict profiles: per case and dimension, how many signed reviews concur, differ
   minor and differ major (case_verdict_summaries; specialty_verdict_summaries when
   a specialty is selected), grouped by that profile (a few hundred rows for a
   hundred thousand cases). From these come the shares per review and per case,
   Fleiss' kappa (a case's profile is its subject) and the pathology and plan
   major-change rates;
2. reviewer pairs: the cross-table of the primary reviewer's and the additional
   readers' verdicts on the same case in the same specialty (Cohen's kappa), from
   the rows of specialty_verdict_summaries that have an additional reader;
3. differ reasons (differ_reason_summaries: unnested from the JSON lists at signing);
4. cases: how many, how many released, the turnaround median and 90th percentile
   (percentile_cont on PostgreSQL) and the implementation outcomes. SQLite, the
   embedded `make run` mode, has no percentile_cont: there the durations come back
   as one ordered column of numbers and stats.percentile reads them (the same
   definition);
5. assignments per reviewer: open, overdue now, completed (the totals are their sums).

Filters: the period is on the case's submission time (from and to are whole UTC
days, both included); timepoint and institution (the referrer's) select cases;
specialty selects reviews and assignments of that specialty, and the case-level
figures (case count, turnaround) count the cases with an assignment in it.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import threading
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, and_, extract, func, select, text
from sqlalchemy.orm import Session

from board.audit import services as audit
from board.auth.models import Institution, User
from board.auth.roles import REVIEWER_SPECIALTY, SPECIALTY_LABEL, Role, Specialty
from board.cases.models import Case
from board.cases.rules import TIMEPOINT_LABEL, Timepoint
from board.concordance import stats
from board.concordance.models import (
    CaseVerdictSummary,
    DifferReasonSummary,
    SpecialtyVerdictSummary,
)
from board.concordance.published import (
    PATHOLOGY_MAJOR,
    PLAN_MAJOR,
    Comparison,
    PublishedRange,
    compare_with_range,
)
from board.concordance.stats import Estimate, Kappa
from board.concordance.summaries import COUNT_COLUMNS, DIMENSIONS, LEVELS
from board.db import utcnow
from board.errors import NotFound
from board.extensions import db
from board.reviews.models import (
    OPEN_ASSIGNMENT,
    Assignment,
    AssignmentStatus,
    Dimension,
)
from board.validation import MAX_ID, FieldError, InvalidInput

# DIMENSIONS and LEVELS (concur, differ minor, differ major: the kappa categories
# too) come from board.concordance.summaries.
ANALYTICS_ROLES = (Role.COORDINATOR, Role.ADMIN)

# The bind the figures are read from when ANALYTICS_DATABASE_URL is set (board/config.py):
# a streaming replica, so the dashboard's scans never compete with the primary's writes.
ANALYTICS_BIND = "analytics"
_replica: ContextVar[Session | None] = ContextVar("analytics_replica", default=None)


class _ReadingSession:
    """Where the five queries run: the replica's session while compute() holds one,
    otherwise the app's (the primary)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_replica.get() or db.session, name)


reading_db = _ReadingSession()


@contextmanager
def _reading() -> Iterator[None]:
    """A read-only transaction on the analytics bind, if one is configured. The audit
    row of the read still goes to the primary, in the app's session."""
    engine = db.engines.get(ANALYTICS_BIND)
    if engine is None:
        yield
        return
    with Session(engine) as session:
        token = _replica.set(session)
        try:
            yield
        finally:
            _replica.reset(token)
            session.rollback()


# --- Filters ------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    timepoint: str | None = None
    specialty: str | None = None
    institution_id: int | None = None

    def as_args(self) -> dict[str, str]:
        """The query-string form, for links (the CSV export of the same selection)."""
        args = {
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "timepoint": self.timepoint,
            "specialty": self.specialty,
            "institution": str(self.institution_id) if self.institution_id is not None else None,
        }
        return {k: v for k, v in args.items() if v}

    @property
    def narrows_cases(self) -> bool:
        return any(
            v is not None
            for v in (self.date_from, self.date_to, self.timepoint, self.institution_id)
        )


def _date(args: Mapping[str, str], name: str, errors: list[FieldError]) -> dt.date | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        errors.append(FieldError(name, "must be a date written as YYYY-MM-DD, e.g. 2026-01-31"))
        return None


def parse_filters(args: Mapping[str, str]) -> Filters:
    """The filters from a query string (`from`, `to`, `timepoint`, `specialty`,
    `institution`); empty values mean "all". Raises InvalidInput, one message per field."""
    errors: list[FieldError] = []
    date_from = _date(args, "from", errors)
    date_to = _date(args, "to", errors)
    if date_from and date_to and date_from > date_to:
        errors.append(FieldError("to", "must be on or after the 'from' date"))
    timepoint = (args.get("timepoint") or "").strip() or None
    if timepoint and timepoint not in {t.value for t in Timepoint}:
        allowed = ", ".join(t.value for t in Timepoint)
        errors.append(FieldError("timepoint", f"must be one of {allowed}"))
    specialty = (args.get("specialty") or "").strip() or None
    if specialty and specialty not in {s.value for s in Specialty}:
        allowed = ", ".join(s.value for s in Specialty)
        errors.append(FieldError("specialty", f"must be one of {allowed}"))
    raw_institution = (args.get("institution") or "").strip()
    institution_id: int | None = None
    if raw_institution:
        if raw_institution.isdigit() and int(raw_institution) <= MAX_ID:
            institution_id = int(raw_institution)
        else:
            errors.append(FieldError("institution", "must be an institution's id (a number)"))
    if errors:
        raise InvalidInput(errors)
    return Filters(date_from, date_to, timepoint, specialty, institution_id)


def _case_conditions(filters: Filters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Case.submitted_at.is_not(None)]
    if filters.date_from:
        start = dt.datetime.combine(filters.date_from, dt.time(), dt.UTC)
        conditions.append(Case.submitted_at >= start)
    if filters.date_to:
        end = dt.datetime.combine(filters.date_to + dt.timedelta(days=1), dt.time(), dt.UTC)
        conditions.append(Case.submitted_at < end)
    if filters.timepoint:
        conditions.append(Case.timepoint == filters.timepoint)
    if filters.institution_id is not None:
        conditions.append(Case.institution_id == filters.institution_id)
    return conditions


# --- The figures --------------------------------------------------------------------


@dataclass(frozen=True)
class LevelShares:
    concur: Estimate
    minor: Estimate
    major: Estimate
    n: int

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> LevelShares:
        found = stats.shares({level: counts.get(level, 0) for level in LEVELS})
        return cls(found["concur"], found["minor"], found["major"], sum(counts.values()))

    def items(self) -> list[tuple[str, Estimate]]:
        return [("concur", self.concur), ("minor", self.minor), ("major", self.major)]


@dataclass(frozen=True)
class DimensionConcordance:
    dimension: str
    per_review: LevelShares
    per_case: LevelShares


@dataclass(frozen=True)
class ReasonFigure:
    reason: str
    count: int
    share: Estimate  # of the differ verdicts in the selection
    by_dimension: Mapping[str, int]


@dataclass(frozen=True)
class Agreement:
    dimension: str
    cohen: Kappa
    fleiss: Kappa


@dataclass(frozen=True)
class Turnaround:
    released: int
    median_days: Estimate
    p90_days: Estimate
    by_due_date: Estimate  # released no later than the case's due date (the service level)


@dataclass(frozen=True)
class ReviewerLoad:
    reviewer_id: int
    name: str
    specialty: str | None
    open: int
    overdue: int
    completed: int


@dataclass(frozen=True)
class Benchmark:
    published: PublishedRange
    rate: Estimate
    comparison: Comparison


@dataclass(frozen=True)
class Implementation:
    fully: int
    partly: int
    not_implemented: int
    rate: Estimate  # fully or partly implemented, of the outcomes recorded
    note: str


@dataclass(frozen=True)
class Dashboard:
    filters: Filters
    generated_at: dt.datetime
    cases: int
    reviews: int
    concordance: tuple[DimensionConcordance, ...]
    differ_verdicts: int
    reasons: tuple[ReasonFigure, ...]
    agreement: tuple[Agreement, ...]
    turnaround: Turnaround
    open_assignments: int
    overdue_assignments: int
    workload: tuple[ReviewerLoad, ...]
    benchmarks: tuple[Benchmark, ...]
    implementation: Implementation


@dataclass(frozen=True)
class _Profiles:
    per_review: dict[str, Counter[str]]
    per_case: dict[str, Counter[str]]
    fleiss: dict[str, Counter[tuple[int, ...]]]
    pathology_cases: int
    pathology_major: int


def _worst(concur: int, minor: int, major: int) -> int | None:
    return 2 if major else 1 if minor else 0 if concur else None


def _profile_rows(filters: Filters) -> list[tuple[dict[str, tuple[int, int, int]], Any, int]]:
    """(counts per dimension, worst pathology diagnosis level, cases with that profile),
    grouped in the database from the verdict summaries: one row per case (all
    specialties), or per case in the selected specialty."""
    summary: type[CaseVerdictSummary] | type[SpecialtyVerdictSummary]
    summary = SpecialtyVerdictSummary if filters.specialty else CaseVerdictSummary
    counts = [getattr(summary, name) for name in COUNT_COLUMNS]
    grouped = list(counts)
    if not filters.specialty:
        grouped.append(CaseVerdictSummary.pathology_diagnosis)
    query = select(*grouped, func.count()).group_by(*grouped)
    if filters.specialty:
        query = query.where(SpecialtyVerdictSummary.specialty == filters.specialty)
    if filters.narrows_cases:
        query = query.join(Case, Case.id == summary.case_id).where(*_case_conditions(filters))
    out = []
    for row in reading_db.execute(query).all():
        cases = int(row[-1])
        profile = {
            d: (int(row[3 * i]), int(row[3 * i + 1]), int(row[3 * i + 2]))
            for i, d in enumerate(DIMENSIONS)
        }
        if not filters.specialty:
            pathology = row[len(COUNT_COLUMNS)]
        elif filters.specialty == Specialty.PATHOLOGY.value:
            # Every review in the selection is a pathology review.
            pathology = _worst(*profile[Dimension.DIAGNOSIS.value])
        else:
            pathology = None
        out.append((profile, pathology, cases))
    return out


def _verdict_profiles(filters: Filters) -> _Profiles:
    """Per case and dimension, how many signed reviews concur, differ minor and differ
    major, and the worst pathology diagnosis verdict, grouped by that profile: the
    hundred thousand cases of a large board come back as a few hundred rows; the
    figures are read from those."""
    per_review: dict[str, Counter[str]] = defaultdict(Counter)
    per_case_levels: dict[str, Counter[str]] = defaultdict(Counter)
    fleiss: dict[str, Counter[tuple[int, ...]]] = defaultdict(Counter)
    pathology_cases = pathology_major = 0
    for counts, pathology, cases in _profile_rows(filters):
        for dimension, (n0, n1, n2) in counts.items():
            if n0 + n1 + n2 == 0:
                continue
            for name, count in zip(LEVELS, (n0, n1, n2), strict=True):
                per_review[dimension][name] += count * cases
            # A case counts as major on a dimension if any review of it differs major
            # there, minor if any differs minor and none major, else concur.
            worst = "major" if n2 else "minor" if n1 else "concur"
            per_case_levels[dimension][worst] += cases
            if n0 + n1 + n2 >= 3:
                fleiss[dimension][(n0, n1, n2)] += cases
        if pathology is not None:
            pathology_cases += cases
            pathology_major += cases if pathology == 2 else 0
    return _Profiles(per_review, per_case_levels, fleiss, pathology_cases, pathology_major)


def _pair_table(filters: Filters) -> dict[str, Counter[tuple[str, str]]]:
    """The primary reviewer's verdict against the additional reader's, per dimension:
    one item per (primary, additional) pair of signed reviews on one case in one
    specialty. Tie-break reviews are left out: they are requested only where the
    first two readers disagree, so pairing them would understate agreement.

    Read from the per-specialty summaries: a row holds the primary reviewer's level and
    how many additional readers gave each level, so summing the additional counts per
    primary level gives the cross-table."""
    s = SpecialtyVerdictSummary
    primaries = [getattr(s, f"primary_{d}") for d in DIMENSIONS]
    additional = [getattr(s, f"additional_{name}") for name in COUNT_COLUMNS]
    query = (
        select(*primaries, *(func.sum(c) for c in additional))
        .where(s.additional_reviews > 0)
        .group_by(*primaries)
    )
    if filters.specialty:
        query = query.where(s.specialty == filters.specialty)
    if filters.narrows_cases:
        query = query.join(Case, Case.id == s.case_id).where(*_case_conditions(filters))
    tables: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    for row in reading_db.execute(query).all():
        for i, dimension in enumerate(DIMENSIONS):
            primary = row[i]
            if primary is None:
                continue
            for level in range(len(LEVELS)):
                count = int(row[len(DIMENSIONS) + 3 * i + level])
                if count:
                    tables[dimension][(LEVELS[primary], LEVELS[level])] += count
    return tables


def _reason_counts(filters: Filters) -> dict[str, Counter[str]]:
    """How many differ verdicts cite each reason, per dimension (unnested once, when
    the review was signed: board.concordance.summaries)."""
    r = DifferReasonSummary
    query = select(r.dimension, r.reason, func.sum(r.verdicts)).group_by(r.dimension, r.reason)
    if filters.specialty:
        query = query.where(r.specialty == filters.specialty)
    if filters.narrows_cases:
        query = query.join(Case, Case.id == r.case_id).where(*_case_conditions(filters))
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for dimension, reason, count in reading_db.execute(query).all():
        counts[str(reason)][dimension] += int(count)
    return counts


def _cases_in(filters: Filters) -> list[ColumnElement[bool]]:
    conditions = _case_conditions(filters)
    if filters.specialty:
        conditions.append(
            Case.id.in_(select(Assignment.case_id).where(Assignment.specialty == filters.specialty))
        )
    return conditions


IMPLEMENTATION_OUTCOMES = ("fully", "partly", "not")


def _turnaround(filters: Filters) -> tuple[int, Turnaround, dict[str, int]]:
    """The case-level figures in one pass over the selected cases: how many, the
    turnaround, and the implementation outcomes the referrers recorded."""
    conditions = _cases_in(filters)
    released = Case.reported_at.is_not(None)
    by_due = func.count().filter(and_(released, Case.due_at.is_not(None)))
    on_time = func.count().filter(and_(released, Case.reported_at <= Case.due_at))
    outcomes = [func.count().filter(Case.implementation == o) for o in IMPLEMENTATION_OUTCOMES]
    if reading_db.get_bind().dialect.name == "postgresql":
        days = extract("epoch", Case.reported_at - Case.submitted_at) / 86400.0
        row = reading_db.execute(
            select(
                func.count(),
                func.count(Case.reported_at),
                by_due,
                on_time,
                func.percentile_cont(0.5).within_group(days),
                func.percentile_cont(0.9).within_group(days),
                *outcomes,
            ).where(*conditions)
        ).one()
        total, count, due_n, on_time_n, median, p90, *implemented = row
        median_days = Estimate(float(median), None, None, count) if count else _no_release()
        p90_days = Estimate(float(p90), None, None, count) if count else _no_release()
    else:
        total, count, due_n, on_time_n, *implemented = reading_db.execute(
            select(func.count(), func.count(Case.reported_at), by_due, on_time, *outcomes).where(
                *conditions
            )
        ).one()
        # SQLite has no percentile_cont: one ordered column of durations, read by the
        # same definition (stats.percentile).
        days_sqlite = func.julianday(Case.reported_at) - func.julianday(Case.submitted_at)
        durations = reading_db.scalars(
            select(days_sqlite).where(*conditions, released).order_by(days_sqlite)
        ).all()
        median_days = _or_no_release(stats.percentile(durations, 0.5))
        p90_days = _or_no_release(stats.percentile(durations, 0.9))
    turnaround = Turnaround(count, median_days, p90_days, stats.proportion(on_time_n, due_n))
    return total, turnaround, dict(zip(IMPLEMENTATION_OUTCOMES, implemented, strict=True))


def _no_release() -> Estimate:
    return Estimate(None, None, None, 0, "no second opinion released in this selection")


def _or_no_release(estimate: Estimate) -> Estimate:
    return estimate if estimate.defined else _no_release()


def _workload(filters: Filters, now: dt.datetime) -> list[ReviewerLoad]:
    is_open = Assignment.status.in_([s.value for s in OPEN_ASSIGNMENT])
    # As Assignment.is_overdue: open, past due, and the case's clock not paused (the
    # paused cases are few: a subquery, not a join with every case).
    paused = select(Case.id).where(Case.paused_at.is_not(None))
    overdue = and_(is_open, Assignment.due_at < now, Assignment.case_id.not_in(paused))
    per_reviewer = select(
        Assignment.reviewer_id.label("reviewer_id"),
        func.count().filter(is_open).label("open"),
        func.count().filter(overdue).label("overdue"),
        func.count()
        .filter(Assignment.status == AssignmentStatus.COMPLETED.value)
        .label("completed"),
    ).group_by(Assignment.reviewer_id)
    if filters.narrows_cases:
        per_reviewer = per_reviewer.join(Case, Case.id == Assignment.case_id).where(
            *_case_conditions(filters)
        )
    if filters.specialty:
        per_reviewer = per_reviewer.where(Assignment.specialty == filters.specialty)
    sub = per_reviewer.subquery()
    rows = reading_db.execute(
        select(User.id, User.name, User.role, sub.c.open, sub.c.overdue, sub.c.completed)
        .join(sub, sub.c.reviewer_id == User.id)
        .where((sub.c.open + sub.c.completed) > 0)
        .order_by(sub.c.overdue.desc(), sub.c.open.desc(), sub.c.completed.desc(), User.name)
    ).all()
    specialty_of = {role.value: specialty.value for role, specialty in REVIEWER_SPECIALTY.items()}
    return [
        ReviewerLoad(reviewer_id, name, specialty_of.get(role), open_, overdue_, completed)
        for reviewer_id, name, role, open_, overdue_, completed in rows
    ]


NO_OUTCOMES_NOTE = (
    "No outcomes recorded yet: the referrer records whether the board's recommendation "
    "was implemented (fully, partly or not) on the second opinion, and this figure "
    "counts those records."
)


def _implementation(counts: Mapping[str, int]) -> Implementation:
    """How many of the selected cases' recommendations the referrer reports as fully,
    partly or not implemented (board.board_meetings.follow_ups.record_implementation);
    the rate is fully or partly, of the outcomes recorded."""
    fully, partly, not_done = (counts.get(k, 0) for k in ("fully", "partly", "not"))
    total = fully + partly + not_done
    if total == 0:
        rate = stats.proportion(0, 0)
        return Implementation(
            0, 0, 0, dataclasses.replace(rate, note=NO_OUTCOMES_NOTE), NO_OUTCOMES_NOTE
        )
    note = f"{total} recorded outcome{'s' if total != 1 else ''} in this selection"
    return Implementation(fully, partly, not_done, stats.proportion(fully + partly, total), note)


def _in_order(counts: Counter[Any]) -> Counter[Any]:
    """The same counts in sorted order: the kappas sum floating-point terms in the
    order they are given, and the database returns groups in no particular order, so
    sorting makes the last digit the same from run to run and plan to plan."""
    return Counter(dict(sorted(counts.items())))


def _cohen(table: Counter[tuple[str, str]]) -> Kappa:
    table = _in_order(table)
    if not table:
        return dataclasses.replace(
            stats.cohen_kappa(table),
            note="no case in this selection has an additional reader beside its primary "
            "reviewer of the same specialty",
        )
    return stats.cohen_kappa(table)


def _fleiss(profiles: Counter[tuple[int, ...]]) -> Kappa:
    profiles = _in_order(profiles)
    if not profiles:
        return dataclasses.replace(
            stats.fleiss_kappa_profiles(profiles),
            note="no case in this selection has three or more signed reviews",
        )
    return stats.fleiss_kappa_profiles(profiles)


def _require_analytics(user: User) -> None:
    if user.role not in {r.value for r in ANALYTICS_ROLES}:
        raise NotFound()


def compute(filters: Filters, *, now: dt.datetime | None = None) -> Dashboard:
    """The figures for a selection (no authorisation, no audit: see dashboard()), read
    from the analytics replica when one is configured."""
    with _reading():
        return _compute(filters, now or utcnow())


def _compute(filters: Filters, now: dt.datetime) -> Dashboard:
    if reading_db.get_bind().dialect.name == "postgresql":
        # These aggregates run in a few hundred milliseconds; compiling them with JIT
        # costs more than it saves (measured in bench/analytics.py). SET LOCAL lasts
        # until the end of this transaction only.
        reading_db.execute(text("SET LOCAL jit = off"))
        # Room for the per-case hash aggregate in memory instead of a sort on disk.
        reading_db.execute(text("SET LOCAL work_mem = '32MB'"))
    profiles = _verdict_profiles(filters)
    pairs = _pair_table(filters)
    reasons = _reason_counts(filters)
    cases, turnaround, implemented = _turnaround(filters)
    workload = _workload(filters, now)

    concordance = tuple(
        DimensionConcordance(
            d, LevelShares.of(profiles.per_review[d]), LevelShares.of(profiles.per_case[d])
        )
        for d in DIMENSIONS
    )
    differ_verdicts = sum(
        c.per_review.n - profiles.per_review[c.dimension]["concur"] for c in concordance
    )
    reason_figures = sorted(
        (
            ReasonFigure(
                reason,
                sum(by_dimension.values()),
                stats.proportion(sum(by_dimension.values()), differ_verdicts),
                dict(by_dimension),
            )
            for reason, by_dimension in reasons.items()
        ),
        key=lambda r: (-r.count, r.reason),
    )
    agreement = tuple(
        Agreement(d, _cohen(pairs.get(d, Counter())), _fleiss(profiles.fleiss.get(d, Counter())))
        for d in DIMENSIONS
    )
    pathology = stats.proportion(profiles.pathology_major, profiles.pathology_cases)
    plan = next(c for c in concordance if c.dimension == Dimension.PLAN.value).per_case.major
    benchmarks = tuple(
        Benchmark(published, rate, compare_with_range(rate, published))
        for published, rate in ((PATHOLOGY_MAJOR, pathology), (PLAN_MAJOR, plan))
    )
    return Dashboard(
        filters=filters,
        generated_at=now,
        cases=cases,
        reviews=max((c.per_review.n for c in concordance), default=0),
        concordance=concordance,
        differ_verdicts=differ_verdicts,
        reasons=tuple(reason_figures),
        agreement=agreement,
        turnaround=turnaround,
        open_assignments=sum(w.open for w in workload),
        overdue_assignments=sum(w.overdue for w in workload),
        workload=tuple(workload),
        benchmarks=benchmarks,
        implementation=_implementation(implemented),
    )


def dashboard(user: User, filters: Filters, *, action: str = "analytics_view") -> Dashboard:
    """The analytics for a coordinator or an administrator (anyone else: NotFound).

    Aggregates only, no patient's data; the read is still audited, as every look
    at what reviewers said about patients is."""
    _require_analytics(user)
    figures = _recent(filters)
    audit.record_read(action, actor=user, object_type="analytics")
    return figures


# --- Recent figures ---------------------------------------------------------------------

CACHE_EXTENSION = "board.analytics_cache"
# Different selections kept per web worker process (the least recently used go first).
CACHE_SELECTIONS = 64


class _RecentFigures:
    """The figures of recent selections, per process, each until it is ANALYTICS_CACHE_
    SECONDS old. The dashboard aggregates whole periods of cases (a few hundred
    milliseconds of database work at 100,000 cases); coordinators open it all day, and
    figures over months do not move in a minute. The page says when they were computed
    (Dashboard.generated_at). Nothing here is patient data: counts and rates."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[Filters, Dashboard] = OrderedDict()

    def get(self, filters: Filters, max_age: dt.timedelta, now: dt.datetime) -> Dashboard | None:
        with self._lock:
            found = self._entries.get(filters)
            if found is None or now - found.generated_at >= max_age:
                return None
            self._entries.move_to_end(filters)
            return found

    def put(self, figures: Dashboard) -> None:
        with self._lock:
            self._entries[figures.filters] = figures
            self._entries.move_to_end(figures.filters)
            while len(self._entries) > CACHE_SELECTIONS:
                self._entries.popitem(last=False)


def _recent(filters: Filters) -> Dashboard:
    """compute(), or its figures for the same selection from less than
    ANALYTICS_CACHE_SECONDS ago in this process (0: always computed)."""
    seconds = float(current_app.config["ANALYTICS_CACHE_SECONDS"])
    if seconds <= 0:
        return compute(filters)
    cache = current_app.extensions.setdefault(CACHE_EXTENSION, _RecentFigures())
    now = utcnow()
    found = cache.get(filters, dt.timedelta(seconds=seconds), now)
    if found is None:
        found = compute(filters, now=now)
        cache.put(found)
    return found


def institution_choices(user: User) -> list[tuple[int, str]]:
    _require_analytics(user)
    return [
        (i, name)
        for i, name in db.session.execute(
            select(Institution.id, Institution.name).order_by(Institution.name)
        ).all()
    ]


# --- Export -------------------------------------------------------------------------


@dataclass(frozen=True)
class FigureRow:
    figure: str
    grouping: str
    value: float | None
    low: float | None
    high: float | None
    n: int | None
    note: str = ""


def _row(figure: str, grouping: str, e: Estimate | Kappa) -> FigureRow:
    return FigureRow(figure, grouping, e.value, e.low, e.high, e.n, e.note)


def _count(figure: str, grouping: str, value: int) -> FigureRow:
    return FigureRow(figure, grouping, value, None, None, value)


def figure_rows(d: Dashboard) -> list[FigureRow]:
    """Every figure of the dashboard, one row each: the CSV export."""
    rows = [_count("cases", "", d.cases), _count("reviews", "", d.reviews)]
    for c in d.concordance:
        for basis, shares in (("per_review", c.per_review), ("per_case", c.per_case)):
            for level, estimate in shares.items():
                rows.append(_row(f"concordance_{basis}", f"{c.dimension}: {level}", estimate))
    for r in d.reasons:
        rows.append(_row("differ_reason", r.reason, r.share))
        for dimension, count in sorted(r.by_dimension.items()):
            rows.append(_count("differ_reason_count", f"{dimension}: {r.reason}", count))
    for a in d.agreement:
        rows.append(_row("cohen_kappa", a.dimension, a.cohen))
        rows.append(_row("fleiss_kappa", a.dimension, a.fleiss))
    t = d.turnaround
    rows += [
        _count("released", "", t.released),
        _row("turnaround_median_days", "submission to release", t.median_days),
        _row("turnaround_p90_days", "submission to release", t.p90_days),
        _row("released_by_due_date", "", t.by_due_date),
        _count("assignments_open", "", d.open_assignments),
        _count("assignments_overdue", "", d.overdue_assignments),
    ]
    for w in d.workload:
        who = f"{w.name} ({w.specialty or 'no specialty'})"
        rows += [
            _count("workload_open", who, w.open),
            _count("workload_overdue", who, w.overdue),
            _count("workload_completed", who, w.completed),
        ]
    for b in d.benchmarks:
        rows.append(_row(b.published.key, "board", b.rate))
        rows.append(
            FigureRow(
                b.published.key,
                "published range",
                None,
                b.published.low,
                b.published.high,
                None,
                "; ".join(s.citation for s in b.published.sources),
            )
        )
    rows.append(_row("implementation_rate", "fully or partly", d.implementation.rate))
    return rows


CSV_COLUMNS = ("figure", "grouping", "value", "low", "high", "n", "note")


def _cell(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def to_csv(d: Dashboard) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in figure_rows(d):
        writer.writerow(
            [r.figure, r.grouping, _cell(r.value), _cell(r.low), _cell(r.high), _cell(r.n), r.note]
        )
    return out.getvalue()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def to_json(d: Dashboard) -> dict[str, Any]:
    """The dashboard as JSON: the structured figures and the same rows as the CSV."""
    body = _jsonable(dataclasses.asdict(d))
    body["filters"] = d.filters.as_args()
    body["figures"] = [_jsonable(dataclasses.asdict(r)) for r in figure_rows(d)]
    return body  # type: ignore[no-any-return]


# Labels the pages use (the words of domain.md).
LEVEL_LABEL = {"concur": "concur", "minor": "minor discordance", "major": "major discordance"}
DIMENSION_LABEL = {"diagnosis": "Diagnosis", "stage": "Stage", "plan": "Treatment plan"}
TIMEPOINT_CHOICES = [(t.value, TIMEPOINT_LABEL[t]) for t in Timepoint]
SPECIALTY_CHOICES = [(s.value, SPECIALTY_LABEL[s]) for s in Specialty]
