"""Every quantity in every API answer is rounded to the precision of its unit
(``api.precision.UNITS``), so no answer shows float noise such as 0.07100000000000001."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from api.models import Run
from api.precision import UNITS, QuantityJSONRenderer, precise, rounded, unit_of
from tests.cast import Cast, api, measurement

ROOT = Path(__file__).resolve().parents[2]
CC_PUE = ROOT / "tests" / "codecarbon" / "fixtures" / "codecarbon_v3_pue15_emissions.csv"
START = datetime(2026, 10, 5, 10, 7, 13, 123456, tzinfo=UTC)


def floats(data: Any, key: str = "") -> list[tuple[str, float]]:
    """(key, value) of every float in an answer, outside what clients sent as is."""
    if isinstance(data, bool):
        return []
    if isinstance(data, float):
        return [(key, data)]
    if isinstance(data, dict):
        return [
            found
            for k, v in data.items()
            if k not in {"params", "metrics", "software", "tags"}
            for found in floats(v, k)
        ]
    if isinstance(data, list):
        return [found for v in data for found in floats(v, key)]
    return []


def noisy_run(client: Client, cast: Cast) -> str:
    """A run whose sums are binary noise: 0.001 + 0.07 kWh is 0.07100000000000001."""
    run = api(
        client,
        "post",
        "/api/v1/runs",
        cast.ingest_key,
        {"run_key": "noise", "experiment": "e", "pue": 1.1, "hardware": {"ram_gb": 31.4159265}},
    ).json()
    items = [
        measurement(
            start=START + timedelta(seconds=37.1 * i),
            duration_s=37.1,
            cpu_kwh=0.001,
            gpu_kwh=0.07,
            ram_kwh=0.0,
            rank=i % 2,
            cpu_power_w=97.03234567,
            cpu_utilization_pct=33.333333,
        )
        for i in range(3)
    ]
    r = api(
        client,
        "post",
        f"/api/v1/runs/{run['id']}/measurements",
        cast.ingest_key,
        {"measurements": items},
    )
    assert r.status_code == 200, r.content
    return str(run["id"])


def test_it_answers_a_run_energy_without_float_noise(cast: Cast, client: Client) -> None:
    run_id = noisy_run(client, cast)
    stored = Run.objects.get(uuid=run_id)
    assert stored.energy_kwh != round(stored.energy_kwh, 6)  # the noise is in the database
    r = api(client, "get", f"/api/v1/runs/{run_id}", cast.read_key)
    body = r.json()
    assert body["energy_kwh"] == 0.213
    assert '"energy_kwh":0.213,' in r.content.decode()
    assert body["gpu_hours"] == round(3 * 37.1 / 3600, 4)
    assert body["hardware"]["ram_gb"] == 31.416


def all_answers(client: Client, cast: Cast) -> dict[str, Any]:
    """Every read and write answer of the API for a project with data."""
    run_id = noisy_run(client, cast)
    key, read, p, o = cast.ingest_key, cast.read_key, cast.project.uuid, cast.org.uuid
    out: dict[str, Any] = {}

    def get(path: str) -> None:
        r = api(client, "get", path, read)
        assert r.status_code == 200, (path, r.content)
        out[path] = r.json()

    prediction = {"epochs_done": 1, "epochs_total": 3, "predicted_energy_kwh": 1 / 3}
    r = api(client, "post", f"/api/v1/runs/{run_id}/prediction", key, prediction)
    out["prediction"] = r.json()
    more = {"measurements": [measurement(start=START + timedelta(hours=2), gpu_kwh=0.1 / 3)]}
    out["measurements"] = api(
        client, "post", f"/api/v1/runs/{run_id}/measurements", key, more
    ).json()
    out["finish"] = api(
        client, "post", f"/api/v1/runs/{run_id}/finish", key, {"status": "finished"}
    ).json()
    imported = client.post(
        "/api/v1/imports",
        {"file": SimpleUploadedFile("emissions.csv", CC_PUE.read_bytes())},
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert imported.status_code == 201, imported.content
    out["import"] = imported.json()
    exp = Run.objects.get(uuid=run_id).experiment.uuid
    for path in (
        "/api/v1/runs",
        f"/api/v1/runs/{run_id}",
        f"/api/v1/runs/{run_id}/series",
        "/api/v1/projects",
        f"/api/v1/projects/{p}",
        f"/api/v1/projects/{p}/summary",
        f"/api/v1/projects/{p}/series?bucket=hour",
        f"/api/v1/projects/{p}/series?bucket=day&start=2026-10-05T10:30:00Z",
        "/api/v1/organisations",
        f"/api/v1/organisations/{o}",
        f"/api/v1/organisations/{o}/series?bucket=hour",
        "/api/v1/experiments",
        f"/api/v1/experiments/{exp}",
    ):
        get(path)
    headers = {"HTTP_X_API_TOKEN": key}
    for path in ("/auth/check", "/organizations", f"/projects/{p}/experiments"):
        out[f"codecarbon{path}"] = client.get(f"/api/codecarbon{path}", **headers).json()
    cc_run = client.post(
        "/api/codecarbon/runs",
        data=json.dumps({"experiment_id": None, "pue": 1.5}),
        content_type="application/json",
        **headers,
    ).json()
    out["codecarbon/runs"] = cc_run
    return out


def test_every_quantity_in_every_answer_has_a_unit_and_its_precision(
    cast: Cast, client: Client
) -> None:
    answers = all_answers(client, cast)
    seen_units: set[str] = set()
    for name, answer in answers.items():
        for key, value in floats(answer):
            unit = unit_of(key)
            assert unit is not None, f"{name}: {key} = {value!r} has no unit in api.precision"
            seen_units.add(unit.symbol)
            assert value == rounded(value, unit), f"{name}: {key} = {value!r}"
            # What JSON shows (e.g. 4e-05) has no more decimals than the unit keeps.
            shown = Decimal(repr(value)).as_tuple().exponent
            assert isinstance(shown, int) and -shown <= unit.decimals, (name, key, value)
    # The walk reached quantities of every kind the API answers.
    assert {
        "kWh",
        "kg CO2e",
        "g CO2e/kWh",
        "W",
        "fraction (0-1)",
        "s",
        "h",
        "PUE",
        "GB",
    } <= seen_units


def test_every_api_view_renders_through_the_precision_table() -> None:
    def views(patterns: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
        found: list[tuple[str, Any]] = []
        for p in patterns:
            if isinstance(p, URLResolver):
                found += views(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                found.append((prefix + str(p.pattern), getattr(p.callback, "cls", None)))
        return found

    api_views = [
        (route, cls)
        for route, cls in views(get_resolver().url_patterns)
        if route.lstrip("^").startswith("api/") and cls is not None
    ]
    assert len(api_views) > 25  # v1, imports and the CodeCarbon endpoints
    for route, cls in api_views:
        if route.endswith(("schema/", "docs/")):
            continue  # the OpenAPI schema and its page, no quantities
        assert cls.renderer_classes == [QuantityJSONRenderer], route


@pytest.mark.parametrize(
    ("key", "unit"),
    [
        ("energy_kwh", "kWh"),
        ("energy_kwh_cum", "kWh"),
        ("facility_energy_kwh", "kWh"),
        ("emissions_kg", "kg"),
        ("emissions_kg_cum", "kg"),
        ("intensity_g_per_kwh", "g/kWh"),
        ("g_per_kwh", "g/kWh"),
        ("cpu_power_w", "W"),
        ("power_w", "W"),
        ("measured_share", "share"),
        ("cpu_utilization_pct", "%"),
        ("duration_s", "s"),
        ("bucket_s", "s"),
        ("t", "s"),
        ("gpu_hours", "h"),
        ("pue", "PUE"),
        ("ram_gb", "GB"),
    ],
)
def test_a_key_names_its_unit(key: str, unit: str) -> None:
    assert unit_of(key) == UNITS[unit]


def test_keys_without_a_unit_and_values_as_sent_are_left_alone() -> None:
    assert unit_of("run_count") is None and unit_of("status") is None
    answer = {
        "run_count": 3,
        "energy_kwh": -1e-9,
        "params": {"lr_s": 0.000123456789},
        "points": [{"t": 1.0000000001, "power_w": 2.25}],
        "values_kwh": [0.1 + 0.2],
    }
    assert precise(answer) == {
        "run_count": 3,
        "energy_kwh": 0.0,  # not -0.0
        "params": {"lr_s": 0.000123456789},
        "points": [{"t": 1.0, "power_w": 2.2}],
        "values_kwh": [0.3],
    }
    assert str(precise({"energy_kwh": -1e-9})["energy_kwh"]) == "0.0"


def test_a_runs_pue_is_kept_to_the_precision_it_is_answered_with(
    cast: Cast, client: Client
) -> None:
    run = api(
        client, "post", "/api/v1/runs", cast.ingest_key, {"run_key": "p", "pue": 1.23456}
    ).json()
    assert run["pue"] == 1.235
    stored = Run.objects.get(uuid=run["id"])
    assert stored.pue == 1.235  # the emissions are computed with the PUE the run shows


def test_the_precision_table_in_the_docs_is_the_one_applied() -> None:
    doc = (ROOT / "docs" / "api.md").read_text()
    table = dict(re.findall(r"^\| ([^|]+?) \| (\d) \|", doc, flags=re.MULTILINE))
    assert table == {u.symbol: str(u.decimals) for u in UNITS.values()}


def test_the_renderer_writes_the_json_drf_would() -> None:
    """msgspec writes the answers; the text must be what DRF's own JSONRenderer writes."""
    import uuid

    from django.utils.translation import gettext_lazy
    from rest_framework.exceptions import ErrorDetail
    from rest_framework.renderers import JSONRenderer

    answer = {
        "t": START,
        "day": START.date(),
        "naive": datetime(2026, 1, 2, 3, 4, 5),
        "offset": START.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris")),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "price": Decimal("1.25"),
        "label": gettext_lazy("Energy"),
        "error": ErrorDetail("is required", code="required"),
        ErrorDetail("key"): [ErrorDetail("a str subclass as a key")],
        "text": 'ünïcödé \u2028 line \u2029 para "quoted" </script>',
        "nested": [{"energy_kwh": 0.1, "n": 3, "ok": True, "none": None}],
        "by_status": {"running": 2},
    }
    ours = QuantityJSONRenderer().render(answer)
    drf = JSONRenderer().render(precise(answer))
    assert ours == drf
    assert json.loads(ours) == json.loads(drf)
    pretty = QuantityJSONRenderer().render(answer, "application/json; indent=2")
    assert json.loads(pretty) == json.loads(drf) and b"\n  " in pretty


def test_a_rounded_series_is_the_series_rounded(cast: Cast, client: Client) -> None:
    """The API's series are rounded as they are built (``rounded=True``); that must be
    exactly what rounding the unrounded series would give, and the renderer leaves it."""
    from api import queries
    from api.models import Project
    from api.precision import Rounded

    noisy_run(client, cast)
    projects = Project.objects.filter(pk=cast.project.pk)
    for bucket in ("hour", "day"):
        raw = queries.usage_series(projects, None, None, bucket, by="zone")
        done = queries.usage_series(projects, None, None, bucket, by="zone", rounded=True)
        assert isinstance(done, Rounded) and not isinstance(raw, Rounded)
        assert done == precise(raw)
        assert raw != done  # the raw series holds the noise that rounding removes
        assert precise(done) is done
