"""A case as its pages and its JSON show it, loaded in a fixed number of statements.

The case page (referrer and coordinator), the API's case read and the second opinion
show the same things: the case with its records and timeline, its assignments with
their reviewers, the signed reviews with their verdicts, the current consensus, the
records requests, and what follows from them (where readers disagree, what routing
requires). Each used to be asked for on its own, with lazy loads per reviewer and the
assignments read three times; `load()` reads each table once (7 statements whatever
the case holds) and derives the rest in Python from the rows it has.

Call it after the viewer was authorised and the read audited (cases.case_for_viewer):
it only reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from board.auth.models import User
from board.board_meetings.models import Consensus
from board.cases.models import Case, CaseEvent, Record, RecordRequest
from board.extensions import db
from board.reviews.models import Assignment, Review
from board.reviews.rules import Disagreement, ReviewerVerdict, disagreements
from board.routing.policy import Requirements, requirements


@dataclass(frozen=True)
class CaseFile:
    case: Case
    assignments: list[Assignment]
    reviews: list[Review]
    consensus: Consensus | None
    record_requests: list[RecordRequest] = field(default_factory=list)

    def disagreements(self) -> list[Disagreement]:
        """Where the signed reviews of one specialty differ (board.reviews.rules)."""
        return disagreements(
            ReviewerVerdict(
                review.id,
                review.assignment.specialty,
                review.assignment.purpose,
                {v.dimension: v.verdict for v in review.verdicts},
            )
            for review in self.reviews
        )

    def requirements(self) -> Requirements:
        """The specialties the case needs and why (board.routing.policy), from the rows
        loaded here."""
        # Imported here: routing builds on the case services, which import this module.
        from board.routing.services import facts_from

        return requirements(facts_from(self.case, self.assignments, self.case.records))


def load(case: Case) -> CaseFile:
    """Everything about `case` its pages show. The users the rows name (reviewers, the
    consensus's signer, who asked for records, who moved the case on) come joined."""
    set_committed_value(
        case,
        "records",
        list(
            db.session.scalars(select(Record).where(Record.case_id == case.id).order_by(Record.id))
        ),
    )
    set_committed_value(
        case,
        "events",
        list(
            db.session.scalars(
                select(CaseEvent)
                .where(CaseEvent.case_id == case.id)
                .options(joinedload(CaseEvent.actor))
                .order_by(CaseEvent.id)
            )
        ),
    )
    assignments = list(
        db.session.scalars(
            select(Assignment)
            .where(Assignment.case_id == case.id)
            .options(joinedload(Assignment.reviewer).joinedload(User.institution))
            .order_by(Assignment.id)
        )
    )
    # Each review's assignment and reviewer are in the identity map by now: no query.
    reviews = list(
        db.session.scalars(
            select(Review)
            .where(Review.case_id == case.id)
            .options(selectinload(Review.verdicts))
            .order_by(Review.id)
        )
    )
    consensus = db.session.scalar(
        select(Consensus)
        .where(Consensus.case_id == case.id)
        .options(joinedload(Consensus.signed_by))
        .order_by(Consensus.version.desc())
        .limit(1)
    )
    requests = list(
        db.session.scalars(
            select(RecordRequest)
            .where(RecordRequest.case_id == case.id)
            .options(joinedload(RecordRequest.requested_by))
            .order_by(RecordRequest.id)
        )
    )
    return CaseFile(case, assignments, reviews, consensus, requests)
