"""HTTP transport for the hub's native API v1 (see docs/api-contract.md)."""

from __future__ import annotations

import time
from typing import Any, Protocol

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
