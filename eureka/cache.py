"""The Redis cache, made to fail soft.

Eureka's cache only saves work: machine translations of steps, allauth's log-in rate counters.
Django's Redis backend raises when Redis is unreachable, so an outage would turn every page that
touches the cache (a step in another language, the log-in form) into a server error. Here an
unreachable Redis reads as a miss and drops writes: pages keep working, translations are asked
for again, and the per-address log-in limit is off until Redis is back (django-axes, which
locks an account after repeated failures, keeps its counts in the database).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)
T = TypeVar("T")

UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
_WARN_EVERY = 30.0  # seconds between two log lines about the same outage
_last_warning = 0.0


def _soft(call: Callable[[], T], fallback: T) -> T:
    global _last_warning
    try:
        return call()
    except UNREACHABLE as error:
        now = time.monotonic()
        if now - _last_warning >= _WARN_EVERY:
            _last_warning = now
            log.warning("the cache is unreachable, working without it: %s", error)
        return fallback


class FailSoftRedisCache(RedisCache):
    """Django's RedisCache; while Redis is unreachable, reads miss and writes are dropped.

    `add` reports success, so a lock taken through the cache (allauth's) does not wait out its
    timeout on every request; `incr` raises ValueError, as for a missing key."""

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        return _soft(
            lambda: super(FailSoftRedisCache, self).add(key, value, timeout, version), True
        )

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        return _soft(lambda: super(FailSoftRedisCache, self).get(key, default, version), default)

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        _soft(lambda: super(FailSoftRedisCache, self).set(key, value, timeout, version), None)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return _soft(lambda: super(FailSoftRedisCache, self).touch(key, timeout, version), False)

    def delete(self, key: Any, version: Any = None) -> bool:
        return _soft(lambda: super(FailSoftRedisCache, self).delete(key, version), False)

    def get_many(self, keys: Any, version: Any = None) -> dict[Any, Any]:
        return _soft(lambda: super(FailSoftRedisCache, self).get_many(keys, version), {})

    def has_key(self, key: Any, version: Any = None) -> bool:
        return _soft(lambda: super(FailSoftRedisCache, self).has_key(key, version), False)

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> int:
        missing = object()
        value = _soft(lambda: super(FailSoftRedisCache, self).incr(key, delta, version), missing)
        if value is missing:
            raise ValueError(f"Key '{key}' not found (the cache is unreachable)")
        return value  # type: ignore[return-value]

    def set_many(self, data: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> list[Any]:
        # On failure: every key is reported as not stored.
        failed = list(data)
        return _soft(
            lambda: super(FailSoftRedisCache, self).set_many(data, timeout, version), failed
        )

    def delete_many(self, keys: Any, version: Any = None) -> None:
        _soft(lambda: super(FailSoftRedisCache, self).delete_many(keys, version), None)

    def clear(self) -> None:
        _soft(lambda: super(FailSoftRedisCache, self).clear(), None)
