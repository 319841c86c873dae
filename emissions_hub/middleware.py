"""Middleware that answers what would otherwise be a 500 or a misleading error.

- ``DatabaseUnavailableMiddleware``: API requests get 503 JSON while the database is
  unreachable. DRF views already shape these errors (``api.errors.exception_handler``);
  this covers what DRF never sees: an error raised by another middleware (sessions,
  authentication) or by a view that is not DRF's. Without it such a request gets Django's
  500 HTML page, which a client takes for a bug rather than for an outage to wait out.
- ``ChunkedBodyMiddleware``: a chunked body (no Content-Length) is read when the server
  has de-chunked it (gunicorn), else refused with 411; Django alone would read it as empty.
- ``NulCharacterMiddleware``: a NUL character in the path, the query string or a form
  gets 400 before any view puts it in a query, where PostgreSQL would fail on it.

The limits are documented in docs/api-contract.md, "Request limits".
"""

from __future__ import annotations

import io
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.utils.html import escape

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


# --- hostile or unusual requests --------------------------------------------------------


def refusal(request: HttpRequest, status: int, error: str, message: str) -> HttpResponse:
    """``{"error", "message"}`` JSON for ``/api/`` paths; a short HTML page for the others."""
    if is_api_path(request.path):
        return JsonResponse({"error": error, "message": message}, status=status)
    page = f"<!doctype html>\n<title>Request refused</title>\n<p>{escape(message)}</p>\n"
    return HttpResponse(page, status=status, content_type="text/html; charset=utf-8")


LENGTH_REQUIRED_MESSAGE = (
    "The body was sent chunked (Transfer-Encoding: chunked) without Content-Length, "
    "which this server cannot read; send the body with a Content-Length header."
)


class ChunkedBodyMiddleware:
    """Give Django a chunked body, or refuse it with 411 when it cannot be read.

    Django's WSGI request reads ``CONTENT_LENGTH`` bytes, none when it is absent, as it is
    for a chunked body: every view would see an empty body. gunicorn de-chunks the body
    and sets ``wsgi.input_terminated``, which says that its input ends where the body does
    (the flag's meaning: https://gist.github.com/mitsuhiko/5721547; gunicorn 27 sets it on
    every request, ``gunicorn/http/wsgi.py``), so there the body is read, up to
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes (413 above it), and handed on with its length.
    Other WSGI servers (Django's runserver) get a 411 saying to send Content-Length.
    Put it before ``BodySizeLimitMiddleware``, which then sees the length read.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        chunked = "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower()
        if isinstance(request, WSGIRequest) and chunked and not meta.get("CONTENT_LENGTH"):
            if not meta.get("wsgi.input_terminated"):
                return refusal(request, 411, "length_required", LENGTH_REQUIRED_MESSAGE)
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            body = meta["wsgi.input"].read(limit + 1 if limit else -1)
            if limit and len(body) > limit:
                return refusal(
                    request,
                    413,
                    "too_large",
                    f"The chunked body is over {limit} bytes, the most the hub reads of a "
                    "body sent without Content-Length. Send smaller batches, or a file with "
                    "a Content-Length header.",
                )
            request._stream = io.BytesIO(body)  # what HttpRequest.read() reads
            meta["CONTENT_LENGTH"] = str(len(body))
        return self.get_response(request)


FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class NulCharacterMiddleware:
    """400 for a NUL character in the path, a query parameter or a urlencoded form field.

    PostgreSQL text cannot hold U+0000, so a view that filters on such a value fails with a
    500; no page or endpoint accepts one. Multipart bodies (file uploads) are left to their
    views, so that uploads are not parsed here; JSON bodies to ``api.parsers``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # A cookie holding a NUL (a quoted "\000" decodes to one) is dropped, not refused:
        # the browser would send it with every request, and the session it names cannot
        # exist anyway, so the request goes on as one without that cookie.
        if any("\x00" in name or "\x00" in value for name, value in request.COOKIES.items()):
            request.COOKIES = {
                name: value
                for name, value in request.COOKIES.items()
                if "\x00" not in name and "\x00" not in value
            }
        where = _nul_place(request)
        if where:
            message = f"The {where} contains a NUL character (%00), which the hub does not accept."
            return refusal(request, 400, "invalid", message)
        return self.get_response(request)


def _nul_place(request: HttpRequest) -> str:
    """Where the request holds a NUL ("query parameter 'start'"), or ''."""
    if "\x00" in request.path:
        return "URL path"
    found = _nul_parameter(request.GET, "query parameter")
    if not found and request.content_type == FORM_CONTENT_TYPE:
        found = _nul_parameter(request.POST, "form field")
    return found


def _nul_parameter(params: QueryDict, kind: str) -> str:
    for name, values in params.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            return f"{kind} {name.replace(chr(0), '%00')!r}"
    return ""
