"""Reviewers who disagree, and the tie-break the coordinator may ask for.

Where two readers of one specialty (the primary reviewer and a second reader the
coordinator added) give different verdicts on a dimension, the coordinator sees the
disagreement and may ask a third reviewer of that specialty to break the tie before
the board's consensus. A tie-break is created only on disagreement and at most once
per dimension of a case (the partial unique index uq_assignments_tie_break_dimension
is the last line of defence). Owns its transactions.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from board.auth import policy
from board.auth.models import User
from board.auth.roles import SPECIALTY_LABEL, Specialty
from board.cases.models import Case
from board.cases.rules import REVIEW_PHASE
from board.errors import Conflict
from board.extensions import db
from board.reviews.models import (
    ACTIVE_ASSIGNMENT,
    Assignment,
    Dimension,
    Purpose,
    Review,
    ReviewVerdict,
    Verdict,
)
from board.reviews.rules import Disagreement, ReviewerVerdict, disagreements
from board.routing.policy import Gap, choose_reviewer
from board.routing.services import _facts, create_assignment, refresh_status, roster
from board.transactions import atomic
from board.validation import FieldError, InvalidInput

TIE_BREAK_INDEX = "uq_assignments_tie_break_dimension"


def case_disagreements(case_id: int) -> list[Disagreement]:
    """Where the signed reviews of one specialty give different verdicts on a
    dimension (board.reviews.rules.disagreements; tie-break reviews left out)."""
    rows = db.session.execute(
        select(
            Review.id,
            Assignment.specialty,
            Assignment.purpose,
            ReviewVerdict.dimension,
            ReviewVerdict.verdict,
        )
        .join(Assignment, Assignment.id == Review.assignment_id)
        .join(ReviewVerdict, ReviewVerdict.review_id == Review.id)
        .where(Review.case_id == case_id)
        .order_by(Review.id, ReviewVerdict.id)
    ).all()
    by_review: dict[int, tuple[str, str, dict[str, str]]] = {}
    for review_id, specialty, purpose, dimension, verdict in rows:
        by_review.setdefault(review_id, (specialty, purpose, {}))[2][dimension] = verdict
    return disagreements(
        ReviewerVerdict(review_id, specialty, purpose, verdicts)
        for review_id, (specialty, purpose, verdicts) in by_review.items()
    )


def _who_disagreed(disagreement: Disagreement) -> str:
    """ "Dr. A concurs, Dr. B differs (major)": the readers' verdicts on the dimension."""
    reviews = db.session.scalars(
        select(Review)
        .where(Review.id.in_(disagreement.review_ids))
        .options(selectinload(Review.reviewer), selectinload(Review.verdicts))
        .order_by(Review.id)
    )
    said = []
    for review in reviews:
        verdict = review.verdict_for(disagreement.dimension)
        if verdict is None:
            continue
        if verdict.verdict == Verdict.CONCUR:
            said.append(f"{review.reviewer.name} concurs")
        else:
            severity = f" ({verdict.severity})" if verdict.severity else ""
            said.append(f"{review.reviewer.name} differs{severity}")
    return ", ".join(said)


def _once_per_dimension(case_id: int, dimension: str) -> Conflict:
    return Conflict(
        f"A tie-break on the {dimension} of case #{case_id} has already been asked; "
        "there is at most one per dimension"
    )


def _active_tie_break(case_id: int, dimension: str) -> Assignment | None:
    return db.session.scalar(
        select(Assignment).where(
            Assignment.case_id == case_id,
            Assignment.purpose == Purpose.TIE_BREAK.value,
            Assignment.tie_break_dimension == dimension,
            Assignment.status.in_(ACTIVE_ASSIGNMENT),
        )
    )


def _parse(specialty: str, dimension: str) -> tuple[Specialty, Dimension]:
    errors = []
    if specialty not in {s.value for s in Specialty}:
        allowed = ", ".join(s.value for s in Specialty)
        errors.append(FieldError("specialty", f"must be one of {allowed}"))
    if dimension not in {d.value for d in Dimension}:
        allowed = ", ".join(d.value for d in Dimension)
        errors.append(FieldError("dimension", f"must be one of {allowed}"))
    if errors:
        raise InvalidInput(errors)
    return Specialty(specialty), Dimension(dimension)


def _check_named(case: Case, reviewer_id: int, specialty: Specialty, on_case: set[int]) -> None:
    """The coordinator's own pick: the specialty that disagrees, active, new to the
    case, and free of conflict of interest. (A network restriction is a caveat the
    coordinator may knowingly override, as for any hand assignment.)"""
    reviewer = db.session.get(User, reviewer_id)
    if reviewer is None or reviewer.specialty is not specialty or not reviewer.active:
        label = SPECIALTY_LABEL[specialty].lower()
        raise InvalidInput([FieldError("reviewer_id", f"is not an active {label} reviewer")])
    if reviewer.institution_id == case.institution_id or reviewer.id == case.referrer_id:
        raise InvalidInput(
            [
                FieldError(
                    "reviewer_id",
                    "works at the referrer's institution (conflict of interest); "
                    "choose someone else",
                )
            ]
        )
    if reviewer.id in on_case:
        raise Conflict(
            "This reviewer has already been assigned this case once; "
            "a tie-break needs a reviewer new to the case"
        )


@atomic
def request_tie_break(
    coordinator: User,
    case_id: int,
    specialty: str,
    dimension: str,
    reviewer_id: int | None = None,
) -> Assignment:
    """Asks a third reviewer of `specialty` to break the tie on `dimension`.

    Refused unless the specialty's readers disagree on the dimension, and when the
    dimension already has an active tie-break (a declined one no longer counts, so
    the coordinator can ask again). With no reviewer named, the routing policy picks
    the least-loaded eligible one. The tie-break is due when the case is due (one
    deadline, the 7-day promise, rather than a clock of its own); the case goes
    back to in review until the tie-break review is in."""
    policy.require_coordinator(coordinator)
    wanted, dim = _parse(specialty, dimension)
    case = policy.check_coordinated_case(
        coordinator, db.session.get(Case, case_id, with_for_update=True)
    )
    if case.status_enum not in REVIEW_PHASE:
        raise Conflict(f"The case is {case.status}; a tie-break can no longer be asked")
    disagreement = next(
        (d for d in case_disagreements(case.id) if (d.specialty, d.dimension) == (wanted, dim)),
        None,
    )
    if disagreement is None:
        raise Conflict(
            f"A tie-break is asked only on disagreement: the {SPECIALTY_LABEL[wanted].lower()} "
            f"reviewers of case #{case.id} have not given different verdicts on the {dim}"
        )
    if _active_tie_break(case.id, dim) is not None:
        raise _once_per_dimension(case.id, dim)
    need = f"tie-break on the {dim}: {_who_disagreed(disagreement)}"
    on_case = set(
        db.session.scalars(select(Assignment.reviewer_id).where(Assignment.case_id == case.id))
    )
    if reviewer_id is None:
        picked = choose_reviewer(_facts(case), roster(), wanted, exclude=on_case, need=need)
        if isinstance(picked, Gap):
            raise Conflict(
                f"Nobody can break the tie: {picked.reason}. Name a reviewer to ask one by hand."
            )
        chosen, reason = picked.reviewer_id, picked.reason
    else:
        _check_named(case, reviewer_id, wanted, on_case)
        chosen, reason = reviewer_id, f"{need}; named by the coordinator, {coordinator.name}"
    try:
        assignment = create_assignment(
            case,
            reviewer_id=chosen,
            specialty=wanted,
            reason=reason,
            assigned_by=coordinator,
            purpose=Purpose.TIE_BREAK,
            tie_break_dimension=dim.value,
        )
    except IntegrityError as exc:
        # A concurrent request slipped past the checks above; @atomic rolls back.
        if TIE_BREAK_INDEX in str(exc.orig):
            raise _once_per_dimension(case_id, dim) from None
        raise Conflict("This reviewer has already been assigned this case once") from None
    refresh_status(case, actor=coordinator)
    db.session.commit()
    return assignment
