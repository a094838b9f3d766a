"""Login throttling: failed sign-ins counted per account and per address.

Counters live in Redis so every gunicorn worker (and every web host) shares them: after
LOGIN_MAX_FAILURES_PER_ACCOUNT failures for one email, or LOGIN_MAX_FAILURES_PER_ADDRESS
from one address, within LOGIN_THROTTLE_WINDOW_SECONDS (a fixed window opened by the first
failure), further attempts are refused with 429 until the window closes. A wrong password,
an unknown email and a wrong second-factor code all count. A successful sign-in clears
the account's counter (not the address's).

The address is `request.remote_addr`: behind a proxy, PROXY_X_FOR (board/security.py)
says how many X-Forwarded-For hops to trust, so a client cannot pick its own address by
sending the header.

When Redis is down the counters fall back to this process's memory (logged as a
warning): the limit still holds per worker (so at most workers x the limit overall),
neither failing closed (nobody could sign in) nor open (no limit at all).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Any

import redis
from flask import current_app

log = logging.getLogger(__name__)

_PREFIX = "board:login-fail:"
_memory: dict[str, tuple[int, float]] = {}
_memory_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}


def account_key(email: str) -> str:
    # Hashed: no email (which may be a patient-adjacent identifier) as a Redis key.
    return _PREFIX + "acct:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def address_key(address: str | None) -> str:
    return _PREFIX + "addr:" + (address or "unknown")


def _client() -> redis.Redis | None:
    url = current_app.config.get("LOGIN_THROTTLE_REDIS_URL")
    if not url:
        return None
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(
            url, socket_connect_timeout=0.5, socket_timeout=0.5, retry_on_timeout=False
        )
    return _clients[url]


def _window() -> int:
    return int(current_app.config["LOGIN_THROTTLE_WINDOW_SECONDS"])


def _memory_get(key: str) -> int:
    with _memory_lock:
        count, expires = _memory.get(key, (0, 0.0))
        if expires <= time.monotonic():
            _memory.pop(key, None)
            return 0
        return count


def _memory_incr(key: str) -> None:
    with _memory_lock:
        count, expires = _memory.get(key, (0, 0.0))
        if expires <= time.monotonic():
            count, expires = 0, time.monotonic() + _window()
        _memory[key] = (count + 1, expires)


def _counts(keys: list[str]) -> list[int]:
    client = _client()
    if client is not None:
        try:
            values: list[Any] = client.mget(keys)
            return [int(v or 0) for v in values]
        except redis.RedisError:
            log.warning("login throttle: Redis unavailable, counting in this process")
    return [_memory_get(k) for k in keys]


def blocked(email: str, address: str | None) -> bool:
    account, by_address = _counts([account_key(email), address_key(address)])
    config = current_app.config
    return (
        account >= config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
        or by_address >= config["LOGIN_MAX_FAILURES_PER_ADDRESS"]
    )


def failed(email: str, address: str | None) -> None:
    keys = [account_key(email), address_key(address)]
    client = _client()
    if client is not None:
        try:
            pipe = client.pipeline()
            for key in keys:
                pipe.incr(key)
                pipe.expire(key, _window(), nx=True)
            pipe.execute()
            return
        except redis.RedisError:
            log.warning("login throttle: Redis unavailable, counting in this process")
    for key in keys:
        _memory_incr(key)


def succeeded(email: str) -> None:
    key = account_key(email)
    with _memory_lock:
        _memory.pop(key, None)
    client = _client()
    if client is not None:
        try:
            client.delete(key)
        except redis.RedisError:
            log.warning("login throttle: Redis unavailable, counting in this process")


def reset_memory() -> None:
    """Forget this process's fallback counters (tests)."""
    with _memory_lock:
        _memory.clear()
