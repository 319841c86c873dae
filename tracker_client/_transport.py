"""Sending to the hub: the Transport protocol, its errors, and the HTTP one (API v1).

Owns what a request's outcome means (``RetryableError``: try again later;
``RejectedError``: the hub refused it), the ``requests``-based ``HttpTransport`` for the
native API v1 (see docs/api-contract.md), ``GuardedTransport``, which maps any other
error onto those two, and ``TransportFactory``, which picks the transport a tracker
delivers through. Knows nothing of queues, spools or retries.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Protocol

logger = logging.getLogger("tracker_client")

RETRYABLE_STATUS = frozenset({408, 429}) | frozenset(range(500, 600))


class TransportError(Exception):
    """Base class of delivery errors."""


class RetryableError(TransportError):
    """Network error, 408, 429 or 5xx: trying again later can succeed."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class RejectedError(TransportError):
    """The hub refused the request (400/401/403/404/413...): retrying will not help."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class Transport(Protocol):
    """What the worker needs from the hub; tests inject an in-memory one."""

    def create_run(self, payload: dict[str, Any]) -> dict[str, Any]: ...

    def post_measurements(self, run_id: str, items: list[dict[str, Any]]) -> dict[str, Any]: ...

    def finish(self, run_id: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def prediction(self, run_id: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def close(self) -> None: ...


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class HttpTransport:
    """requests.Session-based transport; requests is imported here, not at package import."""

    def __init__(self, hub_url: str, api_key: str | None, timeout_s: float = 10.0) -> None:
        import requests

        from . import __version__

        self._requests = requests
        self.hub_url = hub_url.rstrip("/")
        self.timeout = (min(3.05, timeout_s), timeout_s)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"tracker_client/{__version__}"
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.hub_url}/api/v1/{path}"
        try:
            resp = self.session.post(url, json=body, timeout=self.timeout)
        except self._requests.exceptions.InvalidJSONError as exc:
            # The body cannot be encoded (NaN, an odd object): resending cannot help.
            raise RejectedError(f"cannot encode POST {path} as JSON: {exc}", 0) from exc
        except self._requests.RequestException as exc:
            raise RetryableError(f"{type(exc).__name__}: {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise RejectedError(f"cannot encode POST {path} as JSON: {exc}", 0) from exc
        if resp.status_code in RETRYABLE_STATUS:
            raise RetryableError(
                f"hub answered {resp.status_code} to POST {path}",
                resp.status_code,
                parse_retry_after(resp.headers.get("Retry-After")),
            )
        if resp.status_code >= 400:
            try:
                detail = resp.json()
                message = f"{detail.get('error', '')}: {detail.get('message', resp.text)}"
                if detail.get("fields"):
                    message += f" {detail['fields']}"
            except ValueError:
                message = resp.text[:500]
            raise RejectedError(
                f"hub refused POST {path} with {resp.status_code}: {message}", resp.status_code
            )
        try:
            data = resp.json()
        except ValueError as exc:
            raise RetryableError(f"hub answered non-JSON to POST {path}", resp.status_code) from exc
        return data if isinstance(data, dict) else {}

    def create_run(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._post("runs", payload)

    def post_measurements(self, run_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        return self._post(f"runs/{run_id}/measurements", {"measurements": items})

    def finish(self, run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._post(f"runs/{run_id}/finish", body)

    def prediction(self, run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._post(f"runs/{run_id}/prediction", body)

    def close(self) -> None:
        self.session.close()


# Errors that mean the record itself cannot be sent as is (cannot be encoded, or the hub's
# answer makes no sense): retrying would fail the same way, so they count as refused.
_UNSENDABLE = (TypeError, ValueError, KeyError, IndexError, AttributeError, RecursionError)


class GuardedTransport:
    """Wraps a transport so that any error is a RetryableError or a RejectedError.

    A bug or an odd object (numpy values in params, an answer without "id") must neither
    kill the delivery thread nor be retried forever.
    """

    def __init__(self, inner: Transport) -> None:
        self.inner = inner

    def _call(self, name: str, *args: Any) -> dict[str, Any]:
        try:
            answer = getattr(self.inner, name)(*args)
        except (RetryableError, RejectedError):
            raise
        except _UNSENDABLE as exc:
            raise RejectedError(f"cannot send {name}: {type(exc).__name__}: {exc}", 0) from exc
        except Exception as exc:
            raise RetryableError(f"{name} failed: {type(exc).__name__}: {exc}") from exc
        if not isinstance(answer, dict):
            return {}
        return answer

    def create_run(self, payload: dict[str, Any]) -> dict[str, Any]:
        answer = self._call("create_run", payload)
        if not answer.get("id"):
            raise RejectedError("the hub answered the create-run call without a run id", 0)
        return answer

    def post_measurements(self, run_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        return self._call("post_measurements", run_id, items)

    def finish(self, run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("finish", run_id, body)

    def prediction(self, run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("prediction", run_id, body)

    def close(self) -> None:
        self.inner.close()


class _NoClose:
    """Lends an injected transport out without letting its borrowers close it."""

    def __init__(self, inner: Transport) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def close(self) -> None:
        pass


class TransportFactory:
    """Makes a tracker's transports: the injected one, else HTTP to ``hub_url``, else None.

    Without a hub URL it warns once that everything goes to the spool at ``spool_path``.
    """

    def __init__(
        self,
        hub_url: str | None,
        api_key: str | None,
        timeout_s: float,
        injected: Transport | None = None,
        spool_path: Path | None = None,
    ) -> None:
        self.hub_url = hub_url
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.injected = injected
        self.spool_path = spool_path
        self._warned = False

    def __call__(self) -> Transport | None:
        if self.injected is not None:
            return _NoClose(self.injected)  # type: ignore[return-value]
        if not self.hub_url:
            if not self._warned:
                self._warned = True
                logger.warning(
                    "tracker_client: no hub URL (EMISSIONS_HUB_URL); measurements go to the "
                    "spool %s",
                    self.spool_path or "",
                )
            return None
        return HttpTransport(self.hub_url, self.api_key, self.timeout_s)
