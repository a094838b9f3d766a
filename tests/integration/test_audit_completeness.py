"""Every action of issue 6's list writes EXACTLY ONE audit row, with every field filled:
UTC time, actor and role, action, case, object, outcome, source address, request id
(the one the response echoes in X-Request-ID), and, once the chainer has run, its place
in the hash chain.

Each action goes through the real pages or API; what it needs first is made through
the services. `may_be_null` says which fields are legitimately empty, and why:

- login, logout, failed login, role change, analytics export and reading a person's
  trail concern no case (case_id is null);
- a failed login for an email with no account has no actor, no role and no object
  (actor_id, actor_role, object_type, object_id are null): who tried is unknown, and
  the email typed is not stored (it may be a password typed into the wrong box);
- the analytics export is of aggregates, not one object (object_id is null).

Break-glass (action board.audit.actions.BREAK_GLASS, "case.break_glass") is built on
another branch, which adds its row to this table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from board.audit import actions
from board.audit import services as audit
from board.audit.chain import FIELDS
from board.audit.models import AuditEvent, AuditLink
from board.board_meetings import services as meetings
from board.board_meetings.schemas import ConsensusInput
from board.cases import services as cases
from board.extensions import db
from board.validation import parse
from tests.support import factories as f
from tests.support.api import Api
from tests.web.test_pages import (
    CASE_FORM,
    World,
    _add_pathology,
    _assignment_of,
    _draft,
    _routed,
    _sign,
    world,  # noqa: F401  (the fixture)
)

# `detail` and `severity` are kept only where an action has them (a role change's roles,
# break-glass's "high"); the steps below that have them check them. The chain's hashes
# are the chainer's, checked after it ran.
REQUIRED = tuple(name for name in FIELDS if name not in ("detail", "severity", "prev_hash"))


@dataclass
class Ready:
    """What an action needs: a signed-in client (or API) and the ids it acts on."""

    client: FlaskClient | None = None
    api: Api | None = None
    ids: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    action: str
    how: str
    actor: str | None
    prepare: Callable[[World], Ready]
    perform: Callable[[World, Ready], Any]
    may_be_null: frozenset[str] = frozenset()
    outcome: str = "ok"
    detail: dict[str, Any] | None = None
    severity: str | None = None


def _client(w: World, who: str, **ids: int) -> Ready:
    return Ready(client=w.client(who), ids=ids)


def _released(w: World) -> int:
    case_id = _routed(w)
    _sign(w, "pathologist", case_id)
    _consensus(w, case_id)
    w.run(lambda: meetings.release(w.user("coordinator"), case_id))
    return case_id


def _consensus(w: World, case_id: int) -> None:
    w.run(
        lambda: meetings.record_consensus(
            w.user("coordinator"),
            case_id,
            parse(ConsensusInput, {"summary": "The board concurs with the original opinion."}),
        )
    )


def _restricted(w: World) -> int:
    case_id = _routed(w)
    w.run(lambda: cases.set_restricted(w.user("referrer"), case_id, True))
    return case_id


def _ready_for_board(w: World) -> int:
    case_id = _routed(w)
    _sign(w, "pathologist", case_id)
    return case_id


NO_CASE = frozenset({"case_id"})

STEPS = [
    Step(
        actions.CASE_VIEW,
        "coordinator opens the case page",
        "coordinator",
        lambda w: _client(w, "coordinator", case=_routed(w)),
        lambda w, r: r.client.get(f"/cases/{r.ids['case']}"),
    ),
    Step(
        actions.CASE_VIEW,
        "referrer reads the case through the API",
        "referrer",
        lambda w: Ready(api=Api(w.app.test_client(), w.email("referrer")), ids={"case": _draft(w)}),
        lambda w, r: r.api.get(f"/cases/{r.ids['case']}"),
    ),
    Step(
        actions.CASE_VIEW,
        "reviewer opens their assignment (the case)",
        "pathologist",
        lambda w: _client(
            w, "pathologist", assignment=_assignment_of(w, "pathologist", _routed(w))
        ),
        lambda w, r: r.client.get(f"/assignments/{r.ids['assignment']}"),
    ),
    Step(
        actions.CASE_VIEW,
        "another referrer asks for the case: denied (404)",
        "other_referrer",
        lambda w: _client(w, "other_referrer", case=_draft(w)),
        lambda w, r: r.client.get(f"/cases/{r.ids['case']}"),
        may_be_null=NO_CASE,  # the case is not theirs to know: object_id names what was asked
        outcome=actions.DENIED,
    ),
    Step(
        actions.RECORD_DOWNLOAD,
        "referrer downloads a record",
        "referrer",
        lambda w: (lambda c: _client(w, "referrer", record=_add_pathology(w, c)))(_draft(w)),
        lambda w, r: r.client.get(f"/records/{r.ids['record']}"),
    ),
    Step(
        actions.SECOND_OPINION_DOWNLOAD,
        "referrer downloads the second opinion PDF",
        "referrer",
        lambda w: _client(w, "referrer", case=_released(w)),
        lambda w, r: r.client.get(f"/cases/{r.ids['case']}/second-opinion.pdf"),
    ),
    Step(
        actions.SECOND_OPINION_VIEW,
        "referrer asks for a second opinion not released yet: denied (404)",
        "referrer",
        lambda w: (lambda c: (_consensus(w, c), _client(w, "referrer", case=c))[1])(
            _ready_for_board(w)
        ),
        lambda w, r: r.client.get(f"/cases/{r.ids['case']}/second-opinion"),
        may_be_null=NO_CASE,
        outcome=actions.DENIED,
    ),
    Step(
        actions.CASE_CREATE,
        "referrer creates a draft from the form",
        "referrer",
        lambda w: _client(w, "referrer"),
        lambda w, r: r.client.post("/cases/new", data=CASE_FORM),
    ),
    Step(
        actions.CASE_UPDATE,
        "referrer saves the draft's form",
        "referrer",
        lambda w: _client(w, "referrer", case=_draft(w)),
        lambda w, r: r.client.post(f"/cases/{r.ids['case']}/edit", data=CASE_FORM),
    ),
    Step(
        actions.CASE_SUBMIT,
        "referrer submits a complete draft",
        "referrer",
        lambda w: (lambda c: (_add_pathology(w, c), _client(w, "referrer", case=c))[1])(_draft(w)),
        lambda w, r: r.client.post(f"/cases/{r.ids['case']}/submit"),
    ),
    Step(
        actions.ASSIGN,
        "coordinator assigns a reviewer by hand",
        "coordinator",
        lambda w: _client(w, "coordinator", case=_routed(w)),
        lambda w, r: r.client.post(
            f"/cases/{r.ids['case']}/assignments", data={"reviewer_id": w.ids["pathologist2"]}
        ),
    ),
    Step(
        actions.REVIEW_SUBMIT,
        "reviewer signs a review through the API",
        "pathologist",
        lambda w: Ready(
            api=Api(w.app.test_client(), w.email("pathologist")),
            ids={"assignment": _assignment_of(w, "pathologist", _routed(w))},
        ),
        lambda w, r: r.api.post(f"/assignments/{r.ids['assignment']}/review", f.review_body()),
    ),
    Step(
        actions.CONSENSUS_SIGN,
        "coordinator signs the consensus from the case page",
        "coordinator",
        lambda w: _client(w, "coordinator", case=_ready_for_board(w)),
        lambda w, r: r.client.post(
            f"/cases/{r.ids['case']}/consensus",
            data={"summary": "Concur.", "recommendations": "Proceed as planned."},
        ),
    ),
    Step(
        actions.RELEASE,
        "coordinator releases the second opinion",
        "coordinator",
        lambda w: (lambda c: (_consensus(w, c), _client(w, "coordinator", case=c))[1])(
            _ready_for_board(w)
        ),
        lambda w, r: r.client.post(f"/cases/{r.ids['case']}/release"),
    ),
    Step(
        actions.ANALYTICS_EXPORT,
        "coordinator exports the analytics CSV",
        "coordinator",
        lambda w: _client(w, "coordinator"),
        lambda w, r: r.client.get("/analytics.csv"),
        may_be_null=NO_CASE | {"object_id"},
    ),
    Step(
        actions.AUDIT_EXPORT,
        "coordinator exports a case's audit trail",
        "coordinator",
        lambda w: _client(w, "coordinator", case=_routed(w)),
        lambda w, r: r.client.get(f"/cases/{r.ids['case']}/audit.csv"),
    ),
    Step(
        actions.AUDIT_VIEW,
        "administrator reads a person's audit trail",
        "admin",
        lambda w: _client(w, "admin"),
        lambda w, r: r.client.get(f"/users/{w.ids['referrer']}/audit"),
        may_be_null=NO_CASE,
    ),
    Step(
        actions.LOGIN,
        "referrer signs in (the test helper's sign-in)",
        "referrer",
        lambda w: Ready(),
        lambda w, r: w.client("referrer"),
        may_be_null=NO_CASE,
    ),
    Step(
        actions.LOGOUT,
        "referrer signs out",
        "referrer",
        lambda w: _client(w, "referrer"),
        lambda w, r: r.client.post("/logout"),
        may_be_null=NO_CASE,
    ),
    Step(
        actions.LOGIN_FAILED,
        "a wrong password for a real account",
        "referrer",
        lambda w: Ready(client=w.app.test_client()),
        lambda w, r: r.client.post(
            "/login", data={"email": w.email("referrer"), "password": "not the password"}
        ),
        may_be_null=NO_CASE,
        outcome=actions.DENIED,
    ),
    Step(
        actions.LOGIN_FAILED,
        "an email with no account",
        None,
        lambda w: Ready(client=w.app.test_client()),
        lambda w, r: r.client.post(
            "/login", data={"email": "nobody@example.test", "password": "whatever it is"}
        ),
        may_be_null=NO_CASE | {"actor_id", "actor_role", "object_type", "object_id"},
        outcome=actions.DENIED,
    ),
    Step(
        actions.ROLE_CHANGE,
        "administrator changes an account's role",
        "admin",
        lambda w: _client(w, "admin"),
        lambda w, r: r.client.post(
            f"/admin/accounts/{w.ids['medonc']}/role", data={"role": "radiation_oncologist"}
        ),
        may_be_null=NO_CASE,
        detail={"old_role": "medical_oncologist", "new_role": "radiation_oncologist"},
    ),
    Step(
        actions.BREAK_GLASS,
        "coordinator opens a restricted case with a written reason",
        "coordinator",
        lambda w: _client(w, "coordinator", case=_restricted(w)),
        lambda w, r: r.client.post(
            f"/cases/{r.ids['case']}/break-glass",
            data={"reason": "Covering the board while the usual lead is away this week"},
        ),
        severity="high",
    ),
]


def _last_id(w: World) -> int:
    return w.run(lambda: db.session.scalar(select(func.coalesce(func.max(AuditEvent.id), 0))))


def _rows_since(w: World, after: int) -> list[AuditEvent]:
    def load() -> list[AuditEvent]:
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.id > after)))
        db.session.expunge_all()
        return rows

    return w.run(load)  # type: ignore[no-any-return]


@pytest.mark.parametrize("step", STEPS, ids=[f"{s.action}: {s.how}" for s in STEPS])
def test_each_action_writes_exactly_one_complete_audit_row(world, step):  # noqa: F811
    ready = step.prepare(world)
    before = _last_id(world)
    started = dt.datetime.now(dt.UTC)
    response = step.perform(world, ready)
    if response is not None and not isinstance(response, FlaskClient):
        assert response.status_code < 500, response.status_code

    new = _rows_since(world, before)
    mine = [row for row in new if row.action == step.action]
    assert len(mine) == 1, [(r.action, r.outcome) for r in new]
    row = mine[0]
    empty = {name for name in REQUIRED if getattr(row, name) in (None, "")}
    assert empty == set(step.may_be_null), f"empty: {sorted(empty)}"
    assert row.outcome == step.outcome
    assert row.severity == step.severity
    assert row.at.tzinfo is not None and row.at.utcoffset() == dt.timedelta(0)
    assert started - dt.timedelta(seconds=1) <= row.at <= dt.datetime.now(dt.UTC)
    assert row.source_ip == "127.0.0.1"
    if step.actor is not None:
        assert row.actor_id == world.ids[step.actor]
    if isinstance(response, FlaskClient) or response is None:
        assert audit.well_formed_request_id(row.request_id)
    else:
        assert row.request_id == response.headers["X-Request-ID"]
    if step.detail is not None:
        assert row.detail == step.detail

    def chained() -> AuditLink | None:
        audit.chain_all()
        return db.session.scalar(select(AuditLink).where(AuditLink.event_id == row.id))

    link = world.run(chained)
    assert link is not None and len(link.row_hash) == 64 and len(link.prev_hash) == 64
    verdict, pending = world.run(audit.verify)
    assert verdict.intact and pending.rows == 0


def test_the_table_covers_every_action_of_the_issue():
    covered = {step.action for step in STEPS}
    issue = {
        actions.CASE_VIEW,  # view a case
        actions.RECORD_DOWNLOAD,  # download a record
        actions.SECOND_OPINION_DOWNLOAD,  # download the PDF
        actions.CASE_CREATE,
        actions.CASE_UPDATE,
        actions.CASE_SUBMIT,
        actions.ASSIGN,
        actions.REVIEW_SUBMIT,
        actions.CONSENSUS_SIGN,
        actions.RELEASE,
        actions.ANALYTICS_EXPORT,  # export
        actions.AUDIT_EXPORT,  # export (the trail itself)
        actions.LOGIN,
        actions.LOGOUT,
        actions.LOGIN_FAILED,
        actions.ROLE_CHANGE,
    }
    assert issue <= covered
