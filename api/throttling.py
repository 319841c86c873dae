"""Per-key rate limits of the API, and who the client is behind a proxy.

Every API request (native and CodeCarbon) counts against one limit of its sender: writes
(POST, PUT, PATCH, DELETE) against ``API_RATE_INGEST``, reads against ``API_RATE_READ``.
The sender is the API key (by its id), else the signed-in user, else the client's address.
Counts live in Django's cache, Redis in production, so every web process shares them.
Over the limit the answer is a JSON 429 with ``Retry-After`` (``api.errors``), which the
client honours.

The count is a fixed window: one counter per sender, scope and period, raised atomically
(Redis ``INCR``), so it costs one cache round trip per request whatever the limit;
a sender may get up to twice its limit across the boundary of two windows. When the cache
cannot be reached, requests are let through (and logged): a rate limit must not stop
ingestion.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, cast

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured
from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle

from api.auth import key_of

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# A window's counter outlives it by this much, so that it cannot expire while a process
# whose clock is a little behind still counts in it.
CLOCK_SKEW_S = 5
# At most one log line per this many seconds and process while the cache is unreachable.
LOG_EVERY_S = 60.0

log = logging.getLogger("api.throttling")
_last_logged = [0.0]
# The clock of the windows (epoch seconds, shared by processes); a test may replace it.
clock: Callable[[], float] = time.time


def client_ip(request: Any) -> str:
    """The client's address: ``REMOTE_ADDR``, or behind ``HUB_TRUSTED_PROXIES`` = N proxies
    the address the outermost of them saw, N entries from the right of X-Forwarded-For.

    Each proxy appends the address it was connected from, so the entries left of those
    were written by the client itself and prove nothing. With no trusted proxy the header
    is ignored. Also the sign-in lockout's address (``AXES_CLIENT_IP_CALLABLE``).
    """
    remote = str(request.META.get("REMOTE_ADDR", ""))
    trusted = int(getattr(settings, "HUB_TRUSTED_PROXIES", 0))
    if trusted <= 0:
        return remote
    hops = [a.strip() for a in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    hops = [a for a in hops if a]
    if not hops:
        return remote
    return hops[-min(trusted, len(hops))]


def parse_rate(name: str, rate: str) -> tuple[int, int]:
    """``"6000/min"`` -> (6000, 60); the settings check the form at start."""
    try:
        count, period = rate.split("/")
        return int(count), PERIODS[period.strip()[0]]
    except (ValueError, KeyError, IndexError) as exc:
        raise ImproperlyConfigured(f"{name}={rate!r} is not a rate such as 6000/min") from exc


def _note_cache_failure(exc: Exception) -> None:
    now = time.monotonic()
    if now - _last_logged[0] >= LOG_EVERY_S:
        _last_logged[0] = now
        log.warning("API rate limits not applied: the cache is unreachable (%s)", exc)


@functools.cache
def _redis(url: str) -> redis.Redis:
    """One client per Redis URL and process (thread-safe; redis-py pools its connections)."""
    options = cast(dict[str, Any], settings.CACHES["default"].get("OPTIONS") or {})
    return redis.Redis.from_url(url, **options)


def _count(key: str, timeout: int) -> int | None:
    """Add one to a window's counter and return it; None when the cache cannot be reached.

    On Redis in one round trip, under the cache's own key names: create the counter with
    its expiry unless it exists, then increase it (Django's ``incr`` takes two, and builds
    a client each time).
    """
    backend = caches["default"]
    location = settings.CACHES["default"].get("LOCATION")
    try:
        if isinstance(backend, RedisCache) and isinstance(location, str):
            name = backend.make_key(key)
            pipe = _redis(location).pipeline(transaction=False)
            pipe.set(name, 0, ex=timeout, nx=True)
            pipe.incr(name)
            return int(pipe.execute()[1])
        if backend.add(key, 1, timeout=timeout):
            return 1
        return int(backend.incr(key))
    except Exception as exc:
        _note_cache_failure(exc)
        return None


class ApiRateThrottle(BaseThrottle):
    """One limit per sender and scope: ``ingest`` for writes, ``read`` for the rest."""

    SCOPES = {"ingest": "API_RATE_INGEST", "read": "API_RATE_READ"}
    NOUNS = {"ingest": "ingestion", "read": "read"}

    def allow_request(self, request: Any, view: Any) -> bool:
        scope = "read" if request.method in SAFE_METHODS else "ingest"
        name = self.SCOPES[scope]
        rate = getattr(settings, name, None)
        if not rate:
            return True
        limit, period = parse_rate(name, rate)
        sender, who = self.sender(request)
        now = clock()
        window = int(now // period)
        count = _count(f"throttle:{scope}:{sender}:{window}", period + CLOCK_SKEW_S)
        if count is None or count <= limit:
            return True
        raise exceptions.Throttled(
            wait=(window + 1) * period - now,
            detail=f"Too many {self.NOUNS[scope]} requests from {who}: the limit is {rate} "
            f"({name}).",
        )

    @staticmethod
    def sender(request: Any) -> tuple[str, str]:
        """What the request's count is kept under, and how the message names it."""
        key = key_of(request)
        if key is not None:
            return f"key{key.pk}", "this API key"
        user = getattr(request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False) and user.pk:
            return f"user{user.pk}", "this user"
        return f"ip{client_ip(request)}", "this address"
