"""Per-key rate limits of the API, and who the client is behind a proxy.

Every API request (native and CodeCarbon) counts against one limit of its sender: writes
(POST, PUT, PATCH, DELETE) against ``API_RATE_INGEST``, reads against ``API_RATE_READ``.
The sender is the API key (by its id), else the signed-in user, else the client's address.
Counts live in Django's cache, Redis in production, so every web process shares them.
Over the limit the answer is a JSON 429 with ``Retry-After`` (``api.errors``), which the
client honours.

The count is a fixed window: one counter per sender, scope and period, raised atomically
(Redis ``INCRBY``); a sender may get up to twice its limit across the boundary of two
windows. Far from its limit a sender's requests are counted in the process first and
added to the shared counter in batches (:class:`Tally`): at most ``MAX_BATCH`` requests,
``1/SHARE`` of what is left of the limit, or ``FLUSH_S`` seconds, whichever comes first,
so a fleet posting at a thousand requests a second costs a few cache round trips a
second, not one per request; near the limit every request is counted in the cache at
once, so the limit holds to within ``1/SHARE`` of what was left per process. When the
cache cannot be reached, requests are let through (and logged), and the process leaves
the cache alone for ``CACHE_RETRY_S``: a rate limit must not stop or slow ingestion.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
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


def _add(key: str, amount: int, timeout: int) -> int | None:
    """Add ``amount`` to a window's shared counter and return it; None when the cache
    cannot be reached.

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
            pipe.incrby(name, amount)
            return int(pipe.execute()[1])
        if backend.add(key, amount, timeout=timeout):
            return amount
        return int(backend.incr(key, amount))
    except Exception as exc:
        _note_cache_failure(exc)
        return None


# Batching of the counts (see the module's docstring).
MAX_BATCH = 100
SHARE = 16
FLUSH_S = 1.0


@dataclass
class Tally:
    """A window's count as this process knows it: the shared total at the last flush, and
    the requests counted here since."""

    shared: int = 0
    pending: int = 0
    flushed_at: float = 0.0


_tallies: dict[str, Tally] = {}
_lock = threading.Lock()
# After the cache fails, this process counts nothing for this long: a cache that hangs must
# not make every request wait for its timeout.
CACHE_RETRY_S = 30.0
_cache_down_until = [0.0]


def _count(key: str, limit: int, timeout: int) -> int | None:
    """Count one request in a window and return the window's total as far as it is known
    (the shared count plus this process's unflushed requests); None when the cache cannot
    be reached."""
    now = time.monotonic()
    if now < _cache_down_until[0]:
        return None
    with _lock:
        tally = _tallies.get(key)
        if tally is None:
            if len(_tallies) > 10_000:  # windows past are never asked for again
                _tallies.clear()
            tally = _tallies[key] = Tally(flushed_at=now)
        tally.pending += 1
        batch = min(MAX_BATCH, max(1, (limit - tally.shared - tally.pending) // SHARE))
        if tally.pending < batch and now - tally.flushed_at < FLUSH_S:
            return tally.shared + tally.pending
        total = _add(key, tally.pending, timeout)
        if total is None:
            _cache_down_until[0] = now + CACHE_RETRY_S
            tally.pending, tally.flushed_at = 0, now
            return None
        tally.shared, tally.pending, tally.flushed_at = total, 0, now
        return total


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
        count = _count(f"throttle:{scope}:{sender}:{window}", limit, period + CLOCK_SKEW_S)
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
