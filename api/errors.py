"""JSON errors a person can act on, for every failure of the API."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler
from rest_framework.views import set_rollback

from api.schema import Invalid
from emissions_hub.middleware import (
    DB_UNAVAILABLE_ERRORS,
    RETRY_AFTER_S,
    note_unavailable,
    unavailable_body,
)

CODES = {
    400: "invalid",
    401: "unauthorised",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
    503: "unavailable",
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Shape every error as {"error", "message", "fields"?}.

    A lost database connection (raised by a view or by key authentication) is a 503 with
    ``Retry-After``, not a 500: the client should wait and resend, not report a bug.
    """
    if isinstance(exc, DB_UNAVAILABLE_ERRORS):
        request = context.get("request")
        note_unavailable(exc, getattr(request, "path", "?"))
        set_rollback()
        return Response(
            unavailable_body(),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_S), "Cache-Control": "no-store"},
        )
    if isinstance(exc, Invalid):
        body: dict[str, Any] = {"error": "invalid", "message": exc.message}
        if exc.fields:
            body["fields"] = exc.fields
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    response = drf_handler(exc, context)
    if response is None:
        return None
    code = CODES.get(response.status_code, "error")
    if isinstance(exc, exceptions.ValidationError):
        body = {
            "error": code,
            "message": "The request is invalid; see 'fields'.",
            "fields": response.data,
        }
    else:
        detail = response.data.get("detail") if isinstance(response.data, dict) else response.data
        body = {"error": code, "message": str(detail)}
    response.data = body
    return response


class BodySizeLimitMiddleware:
    """Answer 413 to API requests whose body exceeds the configured limit.

    DRF reads the request stream directly, which bypasses Django's own
    DATA_UPLOAD_MAX_MEMORY_SIZE check, so the limit is enforced here.
    """

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/") and request.method in {"POST", "PUT", "PATCH"}:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            if limit and length > limit:
                return JsonResponse(
                    {
                        "error": "too_large",
                        "message": f"The body is {length} bytes; the limit is {limit} bytes. "
                        "Send smaller batches.",
                    },
                    status=413,
                )
        return self.get_response(request)
