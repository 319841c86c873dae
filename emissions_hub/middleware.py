"""Answer API requests with 503 JSON while the database is unreachable.

DRF views already shape these errors (``api.errors.exception_handler``); this covers what
DRF never sees: an error raised by another middleware (sessions, authentication) or by a
view that is not DRF's. Without it such a request gets Django's 500 HTML page, which a
client takes for a bug rather than for an outage to wait out.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

# What a lost or refused database connection raises (connection refused, server closed
# the connection, too many clients), and what PostgreSQL's transient refusals raise too
# (a lock or statement timeout, a deadlock, a server shutting down): all are worth a retry.
# psycopg's own classes too, for statements run on a raw psycopg cursor, whose errors
# Django does not translate.
DB_UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
try:
    import psycopg
except ImportError:  # pragma: no cover - SQLite-only installs
    pass
else:
    DB_UNAVAILABLE_ERRORS += (psycopg.OperationalError, psycopg.InterfaceError)
# Seconds a client is asked to wait before it retries.
RETRY_AFTER_S = 5
API_PREFIX = "/api/"
UNAVAILABLE_MESSAGE = (
    f"The hub's database is unreachable or busy just now; retry in {RETRY_AFTER_S} s. "
    "Resending the same measurements is safe (ingestion skips intervals it already holds)."
)
# At most one log line per this many seconds and process, so an outage under a fleet
# posting every few seconds does not flood the logs.
LOG_EVERY_S = 10.0

log = logging.getLogger("emissions_hub.unavailable")
_log_lock = threading.Lock()
_last_logged = [0.0]
_MARK = "_emissions_hub_db_unavailable"


def is_api_path(path: str) -> bool:
    """True for the native API (``/api/v1/``) and the CodeCarbon API (``/api/codecarbon/``)."""
    return path.startswith(API_PREFIX)


def unavailable_body() -> dict[str, str]:
    return {"error": "unavailable", "message": UNAVAILABLE_MESSAGE}


def note_unavailable(exc: BaseException, path: str) -> None:
    """Log an outage, at most once every LOG_EVERY_S seconds."""
    now = time.monotonic()
    with _log_lock:
        if now - _last_logged[0] < LOG_EVERY_S:
            return
        _last_logged[0] = now
    log.warning("database unreachable (%s: %s); answering 503 to %s", type(exc).__name__, exc, path)


def unavailable_response() -> JsonResponse:
    """``503 {"error": "unavailable", "message": ...}`` with ``Retry-After``."""
    response = JsonResponse(unavailable_body(), status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """503 JSON with Retry-After for ``/api/`` requests that failed on the database.

    Put it first in MIDDLEWARE. Django turns an exception raised below a middleware into a
    500 response before that middleware sees it, so this one both handles the view's
    exception (``process_exception``) and, for an error raised in another middleware,
    replaces the 500 that Django made of it (marked by the ``got_request_exception`` signal).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        exc = getattr(request, _MARK, None)
        if exc is not None and is_api_path(request.path):
            note_unavailable(exc, request.path)
            return unavailable_response()
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DB_UNAVAILABLE_ERRORS) and is_api_path(request.path):
            note_unavailable(exception, request.path)
            return unavailable_response()
        return None


def _mark_request(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """Sent by Django inside its ``except`` block, so the exception is sys.exc_info()."""
    exc = sys.exc_info()[1]
    if request is not None and isinstance(exc, DB_UNAVAILABLE_ERRORS):
        setattr(request, _MARK, exc)


got_request_exception.connect(_mark_request, dispatch_uid="emissions_hub.middleware.mark_db_down")
