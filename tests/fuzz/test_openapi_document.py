"""The OpenAPI document names how a key travels and what every error answer looks like
(what the schema fuzzing cannot check: it sends the key itself)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from django.test import Client


@pytest.fixture
def document(client: Client, db: Any) -> dict[str, Any]:
    answer = client.get("/api/v1/schema/")
    assert answer.status_code == 200
    return dict(yaml.safe_load(answer.content))


def test_both_key_schemes_are_documented(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerKey"]["type"] == "http"
    assert schemes["bearerKey"]["scheme"] == "bearer"
    assert {k: schemes["codecarbonToken"][k] for k in ("type", "in", "name")} == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-token",
    }
    paths = document["paths"]
    native = paths["/api/v1/runs/{run_id}/measurements"]["post"]["security"]
    assert {"bearerKey": []} in native
    codecarbon = paths["/api/codecarbon/emissions"]["post"]["security"]
    assert {"codecarbonToken": []} in codecarbon
    assert {"bearerKey": []} in codecarbon


def test_every_operation_documents_its_error_answers(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "message"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            expected = {"400", "401", "429", "503"}
            if method == "post":
                expected |= {"403", "413"}
            if "{" in path:
                expected.add("404")
            assert expected <= set(responses), (method, path, sorted(responses))
            body = responses["401"]["content"]["application/json"]["schema"]
            assert body["allOf"] == [{"$ref": "#/components/schemas/Error"}]
            assert body["properties"]["error"] == {"const": "unauthorised"}
            # Its success answer (the refusal, for the key-creating call) has a body.
            ok = next(responses[c] for c in ("200", "201", "403") if c in responses)
            assert "content" in ok, (method, path)
