"""Services own their transactions: all of a service's changes commit, or none."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

from board.extensions import db

P = ParamSpec("P")
R = TypeVar("R")


def atomic(service: Callable[P, R]) -> Callable[P, R]:
    """Rolls back whatever the service changed when it refuses half way, so no
    partial change can ride along with a later commit in the same request."""

    @wraps(service)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return service(*args, **kwargs)
        except BaseException:
            db.session.rollback()
            raise

    return wrapper


@contextmanager
def keep_loaded() -> Iterator[None]:
    """A commit that does not expire what the session holds (SQLAlchemy expires every
    object at commit, so the next read goes back to the database). Only for a service
    that knows nothing else wrote its objects: e.g. the rows it has just inserted."""
    session = db.session()
    before = session.expire_on_commit
    session.expire_on_commit = False
    try:
        yield
    finally:
        session.expire_on_commit = before
