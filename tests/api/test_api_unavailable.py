"""While the database is unreachable every /api/ path answers 503 JSON with Retry-After."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from unittest import mock

import psycopg
import pytest
from django.contrib.sessions.middleware import SessionMiddleware
from django.db import InterfaceError, OperationalError
from django.test import Client, RequestFactory

from api.models import ApiKey
from emissions_hub.middleware import DatabaseUnavailableMiddleware
from tests.cast import Cast, api, measurement
from tests.servers import free_port, gunicorn_argv, stop, wait_listening

ROOT = Path(__file__).resolve().parents[2]
REFUSED = OperationalError(
    'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused'
)


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    assert response["Retry-After"] == "5"
    body = response.json()
    assert body["error"] == "unavailable"
    assert "database" in body["message"] and "retry in 5 s" in body["message"]


@pytest.mark.parametrize("error", [REFUSED, InterfaceError("connection already closed")])
def test_key_authentication_failing_on_the_database_is_a_503(
    cast: Cast, client: Client, error: Exception
) -> None:
    with mock.patch.object(ApiKey, "lookup", side_effect=error):
        assert_unavailable(api(client, "post", "/api/v1/runs", cast.ingest_key, {"run_key": "r"}))
        assert_unavailable(api(client, "get", "/api/v1/projects", cast.read_key))
        assert_unavailable(
            api(
                client,
                "post",
                "/api/codecarbon/runs",
                None,
                {"experiment_id": "x"},
                HTTP_X_API_TOKEN=cast.ingest_key,
            )
        )


def test_a_view_failing_on_the_database_is_a_503(cast: Cast, client: Client) -> None:
    run = api(client, "post", "/api/v1/runs", cast.ingest_key, {"run_key": "r"}).json()
    # The key is cached now; the next statement fails as when the server has gone away,
    # whether it runs on a Django cursor (which translates the error) or a raw one.
    with mock.patch.object(
        psycopg.Cursor,
        "execute",
        side_effect=psycopg.OperationalError("server closed the connection unexpectedly"),
    ):
        assert_unavailable(
            api(
                client,
                "post",
                f"/api/v1/runs/{run['id']}/measurements",
                cast.ingest_key,
                {"measurements": [measurement()]},
            )
        )
        assert_unavailable(api(client, "get", f"/api/v1/runs/{run['id']}", cast.ingest_key))


def test_an_error_below_drf_is_a_503_on_api_paths_only(db: Any) -> None:
    client = Client(raise_request_exception=False)
    with mock.patch.object(SessionMiddleware, "process_request", side_effect=REFUSED):
        assert_unavailable(client.get("/api/v1/runs"))
        assert_unavailable(client.post("/api/codecarbon/emissions", {}))
        page = client.get("/login/")
    assert page.status_code == 500
    assert "Retry-After" not in page


def test_the_middleware_answers_a_view_error_on_api_paths_only() -> None:
    middleware = DatabaseUnavailableMiddleware(lambda request: None)  # type: ignore[arg-type,return-value]
    rf = RequestFactory()
    response = middleware.process_exception(rf.get("/api/v1/runs"), REFUSED)
    assert response is not None
    assert response.status_code == 503
    assert json.loads(response.content)["error"] == "unavailable"
    assert middleware.process_exception(rf.get("/"), REFUSED) is None
    assert middleware.process_exception(rf.get("/api/v1/runs"), ValueError("x")) is None


def request(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> Any:
    data = b'{"run_key": "r"}' if method == "POST" else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data:
        req.add_header("Content-Type", "application/json")
    try:
        return urllib.request.urlopen(req, timeout=10)
    except urllib.error.HTTPError as exc:
        return exc


@pytest.mark.slow
def test_gunicorn_with_postgresql_down_answers_503_json(tmp_path: Path) -> None:
    """A real server whose DATABASE_URL points at a closed port."""
    closed, port = free_port(), free_port()
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "test-only-" + "s" * 40,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{closed}/emissions_hub",
        "DJANGO_SETTINGS_MODULE": "emissions_hub.settings",
        "CELERY_BROKER_URL": "",
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            gunicorn_argv(port, "--workers", "1", "--threads", "2"),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_listening(proc, port, log, timeout=30)
        bearer = {"Authorization": "Bearer ehi_" + "k" * 43}
        for method, path, headers in (
            ("POST", "/api/v1/runs", bearer),
            ("GET", "/api/v1/runs", bearer),
            ("POST", "/api/codecarbon/runs", {"x-api-token": "ehi_" + "k" * 43}),
        ):
            response = request(base + path, method, headers)
            body = response.read()
            assert response.status == 503, (path, body[:300])
            assert response.headers["Content-Type"].startswith("application/json")
            assert response.headers["Retry-After"] == "5"
            assert json.loads(body)["error"] == "unavailable"
    finally:
        stop(proc)
