"""Hostile requests get a clear 4xx (JSON for the API, a short page for the others), never a
500: JSON nested too deep, lone surrogates, NUL characters in parameters, chunked bodies."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import requests
from django.db import connection
from django.test import Client

from api.models import Experiment, Run
from api.parsers import DEPTH_MESSAGE, MAX_JSON_DEPTH, json_problem
from emissions_hub.middleware import LENGTH_REQUIRED_MESSAGE
from tests.cast import Cast, api, make_cast, measurement
from tests.codecarbon.test_cc_endpoints import emission_body, run_body
from tests.servers import free_port, gunicorn_argv, stop, wait_listening

ROOT = Path(__file__).resolve().parents[2]


def nested(levels: int) -> str:
    """JSON text of ``levels`` objects inside one another: {"a": {"a": ... {}}}."""
    return '{"a": ' * (levels - 1) + "{}" + "}" * (levels - 1)


def lists(levels: int) -> str:
    return "[" * levels + "]" * levels


def post_raw(client: Client, path: str, body: str, **headers: Any) -> Any:
    return client.post(path, data=body.encode(), content_type="application/json", **headers)


@pytest.fixture
def safe_client() -> Client:
    """A client that turns a server error into the 500 a user would get."""
    return Client(raise_request_exception=False)


@pytest.fixture
def run_id(cast: Cast, safe_client: Client) -> str:
    r = api(
        safe_client, "post", "/api/v1/runs", cast.ingest_key, {"run_key": "h", "experiment": "e"}
    )
    return str(r.json()["id"])


def assert_invalid(r: Any, message: str) -> None:
    assert r.status_code == 400, r.content[:300]
    assert r.json() == {"error": "invalid", "message": message}


# --- depth ---------------------------------------------------------------------------------


def test_the_depth_limit_counts_objects_and_lists_exactly() -> None:
    assert json_problem(json.loads(lists(MAX_JSON_DEPTH))) is None
    assert json_problem(json.loads(nested(MAX_JSON_DEPTH))) is None
    assert json_problem(json.loads(lists(MAX_JSON_DEPTH + 1))) == DEPTH_MESSAGE
    assert json_problem({"x": [1, {"y": json.loads(nested(MAX_JSON_DEPTH - 2))}]}) == DEPTH_MESSAGE
    # Walked without recursion: a value far deeper than Python's recursion limit.
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    assert json_problem(deep) == DEPTH_MESSAGE


def test_a_body_at_the_depth_limit_is_read_and_one_level_more_is_refused(
    cast: Cast, safe_client: Client
) -> None:
    key: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {cast.ingest_key}"}
    # The body is one level, params the others.
    ok = '{"run_key": "deep", "experiment": "e", "params": ' + nested(MAX_JSON_DEPTH - 1) + "}"
    r = post_raw(safe_client, "/api/v1/runs", ok, **key)
    assert r.status_code == 201, r.content[:300]
    over = '{"run_key": "deeper", "experiment": "e", "params": ' + nested(MAX_JSON_DEPTH) + "}"
    assert_invalid(post_raw(safe_client, "/api/v1/runs", over, **key), DEPTH_MESSAGE)
    assert list(Run.objects.values_list("run_key", flat=True)) == ["deep"]


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 330, 10_000, 100_000])
def test_deep_json_is_refused_on_every_endpoint_the_parser_reads(
    cast: Cast, safe_client: Client, run_id: str, levels: int
) -> None:
    key: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {cast.ingest_key}"}
    deep = lists(levels)
    bodies = {
        "/api/v1/runs": '{"run_key": "x", "experiment": "e", "params": {"p": ' + deep + "}}",
        f"/api/v1/runs/{run_id}/finish": '{"status": "finished", "metrics": {"m": ' + deep + "}}",
        f"/api/v1/runs/{run_id}/prediction": '{"epochs_done": ' + deep + "}",
        "/api/v1/experiments": '{"name": ' + deep + "}",
    }
    for path, body in bodies.items():
        assert_invalid(post_raw(safe_client, path, body, **key), DEPTH_MESSAGE)
    cc = json.dumps(run_body())[:-1] + ', "extra": ' + deep + "}"
    r = post_raw(safe_client, "/api/codecarbon/runs", cc, HTTP_X_API_TOKEN=cast.ingest_key)
    assert_invalid(r, DEPTH_MESSAGE)
    assert Run.objects.count() == 1
    assert Run.objects.get().status == "running"
    assert not Experiment.objects.filter(name__startswith="[").exists()


# The two endpoints below decode their bodies with msgspec in api/schema.py (decode_batch,
# decode_emission): they pass once schema.py calls api.parsers (see the module's docstring).


@pytest.mark.parametrize("levels", [10_000, 100_000])
def test_deep_json_is_refused_by_the_measurement_endpoint(
    cast: Cast, safe_client: Client, run_id: str, levels: int
) -> None:
    key: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {cast.ingest_key}"}
    path = f"/api/v1/runs/{run_id}/measurements"
    good = json.dumps(measurement())
    for body in (
        '{"measurements": ' + lists(levels) + "}",
        '{"measurements": [' + good + "], " + '"extra": ' + lists(levels) + "}",
        '{"measurements": [{"extra": ' + lists(levels) + "}]}",
    ):
        assert_invalid(post_raw(safe_client, path, body, **key), DEPTH_MESSAGE)
    assert Run.objects.get().measurement_count == 0


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 10_000])
def test_deep_json_is_refused_by_the_codecarbon_emission_endpoint(
    cast: Cast, safe_client: Client, levels: int
) -> None:
    token: dict[str, Any] = {"HTTP_X_API_TOKEN": cast.ingest_key}
    created = post_raw(safe_client, "/api/codecarbon/runs", json.dumps(run_body()), **token)
    body = json.dumps(emission_body(created.json()["id"]))[:-1] + ', "extra": ' + lists(levels)
    r = post_raw(safe_client, "/api/codecarbon/emissions", body + "}", **token)
    assert_invalid(r, DEPTH_MESSAGE)
    assert Run.objects.get().measurement_count == 0


# --- lone surrogates -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "escape"),
    [
        ('"params": {"\\ud800": 1}', "\\ud800"),
        ('"params": {"lr": "\\udfff"}', "\\udfff"),
        ('"params": {"schedule": ["warmup", {"name": "x\\udc00y"}]}', "\\udc00"),
        ('"tags": ["\\ud83d"]', "\\ud83d"),
        # Low then high is not a pair.
        ('"name": "\\ude00\\ud83d"', "\\ude00"),
    ],
)
def test_a_lone_surrogate_is_refused_by_the_parser(
    cast: Cast, safe_client: Client, fields: str, escape: str
) -> None:
    body = '{"run_key": "s", "experiment": "e", ' + fields + "}"
    r = post_raw(safe_client, "/api/v1/runs", body, HTTP_AUTHORIZATION=f"Bearer {cast.ingest_key}")
    assert r.status_code == 400, r.content[:300]
    assert r.json()["error"] == "invalid"
    assert f"lone UTF-16 surrogate ({escape})" in r.json()["message"]
    assert not Run.objects.exists()


def test_a_surrogate_pair_is_one_character_and_is_kept(cast: Cast, safe_client: Client) -> None:
    key: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {cast.ingest_key}"}
    body = '{"run_key": "\\ud83d\\ude00", "experiment": "e", "params": {"\\ud83c\\udf0d": "ok"}}'
    assert post_raw(safe_client, "/api/v1/runs", body, **key).status_code == 201
    assert Run.objects.get().params == {"\U0001f30d": "ok"}
    # The CodeCarbon run endpoint reads its body with the same parser.
    cc = json.dumps(run_body(os="OS")).replace('"OS"', '"Linux \\ud83d\\ude00"')
    r = post_raw(safe_client, "/api/codecarbon/runs", cc, HTTP_X_API_TOKEN=cast.ingest_key)
    assert r.status_code == 201, r.content[:300]
    bad = post_raw(
        safe_client,
        "/api/codecarbon/runs",
        json.dumps(run_body(os="x")).replace('"x"', '"\\udbff"'),
        HTTP_X_API_TOKEN=cast.ingest_key,
    )
    assert bad.status_code == 400
    assert "lone UTF-16 surrogate (\\udbff)" in bad.json()["message"]


# --- NUL characters in parameters ----------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("experiment=%00", "experiment"),
        ("status=fin%00ished", "status"),
        ("project=%00", "project"),
        ("experiment=ok&experiment=%00", "experiment"),
        ("%00=1", "%00"),
    ],
)
def test_a_nul_in_an_api_query_parameter_is_refused(
    cast: Cast, safe_client: Client, query: str, name: str
) -> None:
    key: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {cast.read_key}"}
    r = safe_client.get(f"/api/v1/runs?{query}", **key)
    assert_invalid(
        r,
        f"The query parameter '{name}' contains a NUL character (%00), "
        "which the hub does not accept.",
    )
    summary = safe_client.get(f"/api/v1/projects/{cast.project.uuid}/summary?start=%00", **key)
    assert summary.status_code == 400
    assert "'start'" in summary.json()["message"]
    # The same requests without the NUL are answered.
    assert safe_client.get("/api/v1/runs?experiment=ok", **key).status_code == 200


def test_a_nul_in_the_sign_in_form_gets_a_400_page(cast: Cast, safe_client: Client) -> None:
    form = urlencode({"username": "owner@acme.test\x00", "password": "pw-12345678"})
    r = safe_client.post("/login/", form, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400
    assert r["Content-Type"].startswith("text/html")
    assert b"form field &#x27;username&#x27; contains a NUL character" in r.content
    form = urlencode({"username": "owner@acme.test", "password": "pw-12345678"})
    r = safe_client.post("/login/", form, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 302


def test_a_nul_in_a_dashboard_query_form_or_path_gets_a_400_page(cast: Cast) -> None:
    client = cast.client_for("owner")
    client.raise_request_exception = False
    org = f"/o/{cast.org.uuid}/"
    assert client.get(org + "?preset=30d").status_code == 200
    page = client.get(org + "?start=2026-01-01%00")
    assert page.status_code == 400
    assert b"query parameter &#x27;start&#x27; contains a NUL" in page.content
    form = urlencode({"name": "nul\x00project", "country": "FRA"})
    posted = client.post(
        org + "projects/new", form, content_type="application/x-www-form-urlencoded"
    )
    assert posted.status_code == 400
    assert b"form field &#x27;name&#x27;" in posted.content
    assert not cast.org.projects.filter(name__startswith="nul").exists()
    for path in ("/p/%00/", f"{org}runs/%00/", "/api/codecarbon/projects/%00"):
        r = client.get(path)
        assert r.status_code == 400, path
        assert b"URL path contains a NUL character" in r.content


def test_a_cookie_holding_a_nul_is_dropped_not_a_500(cast: Cast, safe_client: Client) -> None:
    """A quoted cookie value with ``\\000`` decodes to a NUL, which PostgreSQL cannot look up:
    the cookie is dropped and the request goes on without it."""
    safe_client.cookies["sessionid"] = "abcdefghij\x00k"
    page = safe_client.get(f"/o/{cast.org.uuid}/")
    assert page.status_code == 302 and "/login/" in page["Location"]
    answer = api(safe_client, "get", "/api/v1/runs", cast.read_key)
    assert answer.status_code == 200, answer.content


# --- chunked bodies ------------------------------------------------------------------------


def chunks(body: bytes, size: int = 7) -> Iterator[bytes]:
    """A body that requests sends chunked (a generator has no length)."""
    for at in range(0, len(body), size):
        yield body[at : at + size]


def test_a_chunked_body_gets_411_where_the_server_cannot_read_it(live_server: Any) -> None:
    """Django's own server (runserver, live_server) does not de-chunk: 411, not 'empty'."""
    body = json.dumps({"run_key": "c", "experiment": "e"}).encode()
    r = requests.post(
        f"{live_server.url}/api/v1/runs",
        data=chunks(body),
        headers={"Content-Type": "application/json", "Authorization": "Bearer ehi_x"},
        timeout=30,
    )
    assert r.status_code == 411
    assert r.json() == {"error": "length_required", "message": LENGTH_REQUIRED_MESSAGE}
    page = requests.post(f"{live_server.url}/login/", data=chunks(b"username=a"), timeout=30)
    assert page.status_code == 411
    assert "Content-Length" in page.text
    # With a length, the same body reaches the API (and its key check).
    plain = requests.post(f"{live_server.url}/api/v1/runs", data=body, timeout=30)
    assert plain.status_code == 401


LIMIT = 65536  # MAX_BODY_BYTES of the gunicorn below


@pytest.fixture
def gunicorn(transactional_db: Any, tmp_path: Path) -> Iterator[str]:
    """The hub under gunicorn gthread (as docker-compose.yml runs it) on the test database."""
    db = connection.settings_dict
    user = quote(db["USER"] or "") + (":" + quote(db["PASSWORD"]) if db["PASSWORD"] else "")
    url = f"postgres://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "emissions_hub.test_settings",
        "DATABASE_URL": url,
        "MAX_BODY_BYTES": str(LIMIT),
    }
    port = free_port()
    log = tmp_path / "gunicorn.log"
    argv = gunicorn_argv(port, "--worker-class", "gthread", "--threads", "2")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_listening(proc, port, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def test_gunicorn_de_chunks_a_body_and_the_hub_reads_it(gunicorn: str) -> None:
    cast = make_cast()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {cast.ingest_key}"}

    def post(path: str, payload: Any) -> requests.Response:
        body = json.dumps(payload).encode()
        return requests.post(gunicorn + path, data=chunks(body), headers=headers, timeout=30)

    created = post("/api/v1/runs", {"run_key": "chunked", "experiment": "e"})
    assert created.status_code == 201, created.text
    run = created.json()["id"]
    stored = post(f"/api/v1/runs/{run}/measurements", {"measurements": [measurement()]})
    assert stored.status_code == 200, stored.text
    assert stored.json()["accepted"] == 1
    assert Run.objects.get(run_key="chunked").measurement_count == 1
    # A chunked body has no length to check first: over the limit, 413 all the same.
    big = post(f"/api/v1/runs/{run}/measurements", {"measurements": [], "pad": "x" * LIMIT})
    assert big.status_code == 413
    assert big.json()["error"] == "too_large"
    assert f"over {LIMIT} bytes" in big.json()["message"]
