"""The measurement schema is declared once: the OpenAPI document and the checks agree.

Every bound the OpenAPI schema documents for a measurement field is the bound the hub
enforces, with a message that names it; the schema comes from the same msgspec Structs.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from django.test import Client

from api import schema

START = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def openapi(client: Client) -> dict[str, Any]:
    r = client.get("/api/v1/schema/")
    assert r.status_code == 200
    return dict(yaml.safe_load(r.content))


def good(**over: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "uuid": uuid.uuid4(),
        "start": START,
        "end": START + timedelta(hours=2),
    }
    return {**item, **over}


@pytest.mark.django_db
def test_the_measurement_body_is_documented_from_the_schema(client: Client) -> None:
    doc = openapi(client)
    post = doc["paths"]["/api/v1/runs/{run_id}/measurements"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Batch"}
    fields = doc["components"]["schemas"]["MeasurementIn"]["properties"]
    assert set(fields) == set(schema.MeasurementIn.__struct_fields__)
    assert set(doc["components"]["schemas"]["MeasurementIn"]["required"]) == {
        "uuid",
        "start",
        "end",
    }
    emission = doc["paths"]["/api/codecarbon/emissions"]["post"]["requestBody"]["content"]
    assert emission["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CodeCarbonEmission"
    }


def bounds(prop: dict[str, Any]) -> dict[str, Any]:
    """minimum / maximum / maxLength of a property, through anyOf [x, null]."""
    for option in prop.get("anyOf", [prop]):
        if any(k in option for k in ("minimum", "maximum", "maxLength")):
            return dict(option)
    return {}


@pytest.mark.django_db
def test_every_documented_bound_is_enforced_with_its_message(client: Client) -> None:
    fields = openapi(client)["components"]["schemas"]["MeasurementIn"]["properties"]
    checked = 0
    for name, prop in fields.items():
        b = bounds(prop)

        # The field's own check, whatever the rules between fields say of the rest.
        def errors(value: Any, name: str = name) -> dict[str, str]:
            return schema.field_errors({**good(), name: value}, schema.MeasurementIn)

        if "maximum" in b:
            top = b["maximum"]
            assert name not in errors(top)
            over = top + 1 if isinstance(top, int) else top * 1.001
            assert f"{top:g}" in errors(over)[name] or str(top) in errors(over)[name]
            checked += 1
        if "minimum" in b:
            assert name not in errors(b["minimum"])
            assert name in errors(b["minimum"] - 1)
            checked += 1
        if "maxLength" in b:
            assert name not in errors("x" * b["maxLength"])
            assert "at most" in errors("x" * (b["maxLength"] + 1))[name]
            checked += 1
    assert checked >= 25


def test_a_bad_batch_lists_every_problem_of_every_item() -> None:
    body = (
        b'{"measurements": [{"uuid": "x", "start": "yesterday", "end": "2026-01-01T00:00:00Z",'
        b' "cpu_energy_kwh": -1, "node": 7, "gpu_method": "guess"}, 5,'
        b' {"uuid": "7f1d1f0e-0000-4000-8000-000000000000", "start": "2026-01-01T00:00:00Z",'
        b' "end": "2026-01-01T00:00:10Z", "seq": 1.5}]}'
    )
    with pytest.raises(schema.Invalid) as exc:
        schema.decode_batch(body)
    assert exc.value.message == "3 of 3 measurements are invalid; nothing was stored"
    first = exc.value.fields["0"]
    assert first["uuid"].startswith("is required and must be a UUID")
    assert first["start"] == "'yesterday' is not an ISO 8601 timestamp"
    assert first["cpu_energy_kwh"] == "must not be negative"
    assert first["node"] == "must be a string"
    assert "'guess' is not one of" in first["gpu_method"]
    assert exc.value.fields["1"] == "each measurement must be a JSON object"
    assert exc.value.fields["2"] == {"seq": "must be a whole number"}


def test_rules_between_fields_are_checked_after_the_types() -> None:
    with pytest.raises(schema.Invalid) as exc:
        schema.measurement(good(end=START - timedelta(seconds=1)))
    assert exc.value.fields == {"end": "is before start"}
    with pytest.raises(schema.Invalid) as exc:
        schema.measurement(good(gpu_energy_kwh=0.5))
    assert exc.value.fields == {"gpu_method": "is required when gpu_energy_kwh is above zero"}
    with pytest.raises(schema.Invalid) as exc:
        schema.measurement(good(end=START + timedelta(seconds=1), gpu_energy_kwh=1.0))
    assert "(is it in kWh?)" in exc.value.fields["gpu_energy_kwh"]
    m = schema.measurement(good(gpu_energy_kwh=0.5, gpu_method="nvml_energy"))
    assert (m.duration_s, m.gpu_count, m.cpu_method) == (7200.0, 1, "none")


def test_native_clients_cannot_send_a_foreign_tools_own_figure() -> None:
    body = (
        b'{"measurements": [{"uuid": "7f1d1f0e-0000-4000-8000-000000000000",'
        b' "start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:00:10Z",'
        b' "client_emissions_kg": 5.0}]}'
    )
    (m,) = schema.decode_batch(body, now=datetime(2026, 2, 1, tzinfo=UTC))
    assert not hasattr(m, "client_emissions_kg")


def test_the_schemas_methods_are_the_models() -> None:
    from api.models import METHOD_CHOICES

    assert {code for code, _ in METHOD_CHOICES} == schema.METHODS
