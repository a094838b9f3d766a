"""The Celery application: `celery -A workers.celery_app worker`.

The only module that builds an app at import, following the Flask docs' Celery
pattern: the Flask app is created, and its Celery instance runs every task
inside the app context.
"""

from __future__ import annotations

from celery.signals import worker_process_init

from board import create_app
from board.extensions import db
from workers.bookkeeping import BookkeepingStep
from workers.relay import OutboxRelayStep

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
celery_app.steps["worker"].add(OutboxRelayStep)
celery_app.steps["worker"].add(BookkeepingStep)

import workers.tasks.notifications  # noqa: E402  (registers the tasks)
import workers.tasks.reviews  # noqa: E402
import workers.tasks.routing  # noqa: E402,F401

app = celery_app


@worker_process_init.connect
def _fresh_connections(**_: object) -> None:
    # A forked pool child must not reuse the parent's database connections.
    with flask_app.app_context():
        db.engine.dispose(close=False)
