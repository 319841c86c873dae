"""API keys travel in headers only: a key in a query string is refused with a 400 that
says where to put it, and is never looked up (api.auth.KeyInUrlMiddleware)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.cast import Cast, api


@pytest.mark.parametrize("name", ["api_key", "token", "key", "API_KEY", "access_token"])
def test_a_key_in_the_query_string_is_refused_with_400(
    cast: Cast, client: Client, name: str
) -> None:
    answer = client.get(f"/api/v1/projects?{name}={cast.read_key}")
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "invalid"
    assert f"query parameter {name!r}" in body["message"]
    assert "Authorization (Bearer) or x-api-token header" in body["message"]
    assert "a key in a URL lands in access logs" in body["message"]


def test_a_hub_key_under_any_name_is_refused_even_beside_a_good_header(
    cast: Cast, client: Client
) -> None:
    answer = api(client, "get", f"/api/v1/runs?status={cast.ingest_key}", cast.read_key)
    assert answer.status_code == 400
    assert "query parameter 'status'" in answer.json()["message"]


def test_the_codecarbon_api_refuses_it_too(cast: Cast, client: Client) -> None:
    answer = client.post(
        f"/api/codecarbon/runs?api_key={cast.ingest_key}",
        "{}",
        content_type="application/json",
        HTTP_X_API_TOKEN=cast.ingest_key,
    )
    assert answer.status_code == 400
    assert "x-api-token header" in answer.json()["message"]


def test_ordinary_query_parameters_still_work(cast: Cast, client: Client) -> None:
    answer = api(client, "get", "/api/v1/runs?status=running&limit=5", cast.read_key)
    assert answer.status_code == 200
    # A name that merely starts like a key (EHR: electronic health records) is a name.
    for name in ("ehr_readmission", "ehi_" + "x" * 42, "ehi_" + "x" * 44):
        answer = api(client, "get", f"/api/v1/runs?experiment={name}", cast.read_key)
        assert answer.status_code == 200, (name, answer.content)
    # Without any header, a key in the URL is not a way in either.
    assert client.get(f"/api/v1/projects?api_key={cast.read_key}").status_code == 400
    assert client.get("/api/v1/projects").status_code == 401
