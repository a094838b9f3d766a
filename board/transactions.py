"""Services own their transactions: all of a service's changes commit, or none."""

from __future__ import annotations

from collections.abc import Callable
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
