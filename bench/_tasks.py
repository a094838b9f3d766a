"""Bench-only Celery tasks, loaded into a worker with `-I bench._tasks`; production code
never imports this module (the leading underscore keeps `make bench` from running it)."""

from __future__ import annotations

import os

import redis
from celery import shared_task

NOOP_TASK = "bench.noop"
NOOP_DONE_KEY = "bench:noop:done"

_client: redis.Redis | None = None


@shared_task(name=NOOP_TASK)
def noop(token: int) -> None:
    """Does nothing but say that it ran: pushes its token to a list the bench waits on
    with BLPOP, so a round trip is publish, consume, execute, and one Redis write."""
    global _client
    if _client is None:
        _client = redis.Redis.from_url(os.environ["REDIS_URL"])
    _client.lpush(NOOP_DONE_KEY, token)
