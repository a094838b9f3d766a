"""The outbox: state and message commit together; the relay publishes; the sweeper
republishes what never finished; a broker outage loses nothing."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
import redis
from sqlalchemy import select

from board.db import utcnow
from board.extensions import db
from board.outbox import services as outbox
from board.outbox.models import OutboxMessage, OutboxStatus
from tests.support.services import REDIS_URL, free_port

QUEUE = "board"  # task_default_queue


@pytest.fixture
def broker():
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(QUEUE)
    yield client
    client.delete(QUEUE)


def queued_tasks(broker) -> list[tuple[str, dict]]:
    out = []
    for raw in broker.lrange(QUEUE, 0, -1):
        message = json.loads(raw)
        body = json.loads(base64.b64decode(message["body"]))
        out.append((message["headers"]["task"], body[1]))
    return out


def test_an_outbox_message_carries_ids_only(ctx):
    with pytest.raises(TypeError, match="must be an id"):
        outbox.enqueue("routing.route_case", case_id="Ada Patient")  # type: ignore[arg-type]


def test_the_relay_publishes_pending_messages_with_their_outbox_id(ctx, broker):
    message = outbox.enqueue("routing.route_case", case_id=7)
    db.session.commit()
    assert outbox.relay_once() == 1
    db.session.refresh(message)
    assert message.status == OutboxStatus.PUBLISHED and message.published_at is not None
    assert queued_tasks(broker) == [("routing.route_case", {"case_id": 7, "outbox_id": message.id})]
    assert outbox.relay_once() == 0  # nothing published twice by the relay


def test_the_sweeper_returns_stuck_messages_to_pending(ctx):
    stuck = OutboxMessage(
        task="routing.route_case",
        payload={"case_id": 1},
        status=OutboxStatus.PUBLISHED,
        published_at=utcnow() - dt.timedelta(minutes=10),
    )
    fresh = OutboxMessage(
        task="routing.route_case",
        payload={"case_id": 2},
        status=OutboxStatus.PUBLISHED,
        published_at=utcnow(),
    )
    done = OutboxMessage(
        task="routing.route_case",
        payload={"case_id": 3},
        status=OutboxStatus.DONE,
        published_at=utcnow() - dt.timedelta(minutes=10),
    )
    db.session.add_all([stuck, fresh, done])
    db.session.commit()
    assert outbox.sweep_once(dt.timedelta(minutes=2)) == 1
    statuses = dict(db.session.execute(select(OutboxMessage.id, OutboxMessage.status)).all())
    assert statuses == {stuck.id: "pending", fresh.id: "published", done.id: "done"}


def publishing_app(app, broker_url: str):
    """An app that publishes on commit, as the web process does with Redis configured."""
    from board import create_app

    other = create_app(
        {
            **{k: app.config[k] for k in ("TESTING", "SQLALCHEMY_DATABASE_URI", "SECRET_KEY")},
            "OUTBOX_PUBLISH_ON_COMMIT": True,
            "CELERY": {"broker_url": broker_url},
        }
    )
    app.extensions["celery"].set_default()  # keep the suite's Celery app the default
    return other


def test_a_message_is_published_right_after_its_commit_and_not_before(app, broker):
    with publishing_app(app, REDIS_URL).app_context():
        message = outbox.enqueue("routing.route_case", case_id=5)
        db.session.flush()
        assert queued_tasks(broker) == []
        db.session.commit()
        assert queued_tasks(broker) == [
            ("routing.route_case", {"case_id": 5, "outbox_id": message.id})
        ]
        db.session.refresh(message)
        assert message.status == OutboxStatus.PUBLISHED
        # The relay leaves it alone: it is no longer pending.
        assert outbox.relay_once() == 0
        db.session.remove()


def test_a_rolled_back_message_is_never_published(app, broker):
    with publishing_app(app, REDIS_URL).app_context():
        outbox.enqueue("routing.route_case", case_id=6)
        db.session.flush()
        db.session.rollback()
        db.session.commit()
        assert queued_tasks(broker) == []
        db.session.remove()


def test_a_broker_outage_leaves_the_message_pending_without_an_error(app):
    unreachable = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with publishing_app(app, unreachable).app_context():
        message = outbox.enqueue("routing.route_case", case_id=9)
        db.session.commit()  # publishing fails quietly after the commit
        db.session.refresh(message)
        assert message.status == OutboxStatus.PENDING
        message.available_at = utcnow()  # past the relay's grace period
        db.session.commit()
        assert outbox.relay_once() == 0
        db.session.refresh(message)
        assert message.status == OutboxStatus.PENDING
        db.session.remove()


def test_a_delivery_of_a_done_message_does_not_run_again(ctx):
    message = outbox.enqueue("routing.route_case", case_id=1)
    db.session.commit()
    assert outbox.begin_attempt(message.id) is True
    outbox.mark_done(message.id)
    db.session.commit()
    assert outbox.begin_attempt(message.id) is False
    db.session.refresh(message)
    assert message.attempts == 1


def test_only_one_copy_of_a_message_runs_at_a_time_and_a_copy_counts_no_attempt(ctx):
    message = outbox.enqueue("routing.route_case", case_id=1)
    db.session.commit()
    with outbox.delivery_lock(message.id) as first:
        assert first is True
        with outbox.delivery_lock(message.id) as copy:
            assert copy is False  # a republished copy while the first still runs
    with outbox.delivery_lock(message.id) as later:
        assert later is True  # released when the first delivery ends
    db.session.refresh(message)
    assert message.attempts == 0
