"""Bad input gets a clear JSON error and changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from api.models import Measurement, Run, UsageHour
from tests.cast import Cast, api, measurement


@pytest.fixture
def run_id(cast: Cast, client: Client) -> str:
    r = api(client, "post", "/api/v1/runs", cast.ingest_key, {"run_key": "v", "experiment": "e"})
    return str(r.json()["id"])


def post(client: Client, cast: Cast, run_id: str, items: list[dict[str, Any]]) -> Any:
    return api(
        client,
        "post",
        f"/api/v1/runs/{run_id}/measurements",
        cast.ingest_key,
        {"measurements": items},
    )


def assert_refused(r: Any, field: str) -> None:
    assert r.status_code == 400, r.content
    body = r.json()
    assert body["error"] == "invalid"
    assert "nothing was stored" in body["message"]
    assert field in json.dumps(body["fields"])
    assert Measurement.objects.count() == 0
    assert UsageHour.objects.count() == 0
    assert Run.objects.get().energy_kwh == 0.0


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"cpu_energy_kwh": -0.1}, "cpu_energy_kwh"),
        ({"gpu_power_w": -5}, "gpu_power_w"),
        ({"ram_energy_kwh": "lots"}, "ram_energy_kwh"),
        ({"uuid": "not-a-uuid"}, "uuid"),
        ({"start": "yesterday"}, "start"),
        ({"cpu_method": "guesswork"}, "cpu_method"),
        ({"cpu_method": None}, "cpu_method"),
        ({"cpu_energy_kwh": 5000}, "cpu_energy_kwh"),
        ({"rank": -1}, "rank"),
    ],
)
def test_it_refuses_a_batch_with_a_bad_field(
    cast: Cast, client: Client, run_id: str, over: dict[str, Any], field: str
) -> None:
    good = measurement()
    bad = {**measurement(), **over}
    assert_refused(post(client, cast, run_id, [good, bad]), field)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_it_refuses_nan_and_infinite_numbers(
    cast: Cast, client: Client, run_id: str, token: str
) -> None:
    body = json.dumps({"measurements": [measurement()]}).replace(
        '"gpu_energy_kwh": 0.002', f'"gpu_energy_kwh": {token}'
    )
    assert token in body
    r = client.post(
        f"/api/v1/runs/{run_id}/measurements",
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {cast.ingest_key}",
    )
    # The strict JSON parser refuses these tokens before validation even starts.
    assert r.status_code == 400
    assert r.json()["error"] == "invalid"
    assert "not JSON compliant" in r.json()["message"]
    assert token in r.json()["message"]
    assert Measurement.objects.count() == 0


def test_it_refuses_an_end_before_the_start(cast: Cast, client: Client, run_id: str) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    item = measurement(start=start)
    item["end"] = (start - timedelta(seconds=5)).isoformat()
    assert_refused(post(client, cast, run_id, [item]), "before start")


def test_it_refuses_a_duration_that_disagrees_with_the_timestamps(
    cast: Cast, client: Client, run_id: str
) -> None:
    item = measurement(duration_s=10.0)
    item["duration_s"] = 60.0
    assert_refused(post(client, cast, run_id, [item]), "end - start")


def test_it_refuses_timestamps_far_in_the_future(cast: Cast, client: Client, run_id: str) -> None:
    item = measurement(start=datetime.now(UTC) + timedelta(days=2))
    assert_refused(post(client, cast, run_id, [item]), "future")


def test_it_refuses_a_batch_over_the_limit(cast: Cast, client: Client, run_id: str) -> None:
    r = post(client, cast, run_id, [measurement() for _ in range(1001)])
    assert r.status_code == 400
    assert "at most 1000" in r.json()["message"]
    assert Measurement.objects.count() == 0


def test_it_answers_413_for_a_body_over_the_size_limit(
    cast: Cast, client: Client, run_id: str, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    items = [measurement(node="x" * 150) for _ in range(100)]
    r = post(client, cast, run_id, items)
    assert r.status_code == 413
    assert r.json()["error"] == "too_large"
    assert Measurement.objects.count() == 0


@pytest.mark.parametrize(
    ("over", "text"),
    [
        ({"country": "XYZ"}, "XYZ"),
        ({"country": "USA", "region": "ATLANTIS"}, "ATLANTIS"),
        ({"cloud_provider": "aws", "cloud_region": "moon-1"}, "moon-1"),
        ({"cloud_provider": "ibm-mainframe", "cloud_region": "x"}, "ibm"),
    ],
)
def test_it_refuses_unknown_country_and_region_codes(
    cast: Cast, client: Client, over: dict[str, str], text: str
) -> None:
    r = api(client, "post", "/api/v1/runs", cast.ingest_key, {"run_key": "loc", **over})
    assert r.status_code == 400, r.content
    assert text.lower() in r.json()["message"].lower()
    assert Run.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"run_key": "p", "pue": 0.5}, "pue"),
        ({"run_key": "p", "pue": "NaN"}, "pue"),
        ({"run_key": ""}, "run_key"),
        ({"experiment": "no key"}, "run_key"),
        ({"run_key": "p", "node_count": 0}, "node_count"),
    ],
)
def test_it_refuses_bad_run_fields(
    cast: Cast, client: Client, body: dict[str, Any], field: str
) -> None:
    r = api(client, "post", "/api/v1/runs", cast.ingest_key, body)
    assert r.status_code == 400
    assert field in r.json()["fields"]
    assert Run.objects.count() == 0


def test_it_refuses_a_body_that_is_not_json(cast: Cast, client: Client, run_id: str) -> None:
    r = client.post(
        f"/api/v1/runs/{run_id}/measurements",
        data="{oops",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {cast.ingest_key}",
    )
    assert r.status_code == 400
    assert r.json()["error"] == "invalid"


def test_it_refuses_a_finish_with_an_unknown_status(
    cast: Cast, client: Client, run_id: str
) -> None:
    r = api(
        client, "post", f"/api/v1/runs/{run_id}/finish", cast.ingest_key, {"status": "exploded"}
    )
    assert r.status_code == 400
    assert "status" in r.json()["fields"]


def test_it_refuses_a_prediction_with_more_epochs_done_than_total(
    cast: Cast, client: Client, run_id: str
) -> None:
    r = api(
        client,
        "post",
        f"/api/v1/runs/{run_id}/prediction",
        cast.ingest_key,
        {"epochs_done": 5, "epochs_total": 2, "predicted_energy_kwh": 1},
    )
    assert r.status_code == 400


def test_it_refuses_a_bad_period(cast: Cast, client: Client) -> None:
    r = api(
        client,
        "get",
        f"/api/v1/projects/{cast.project.uuid}/summary?start=2026-02-01T00:00:00Z&end=2026-01-01T00:00:00Z",
        cast.read_key,
    )
    assert r.status_code == 400
    assert "end" in r.json()["fields"]


def test_it_refuses_an_energy_impossible_over_its_interval(
    cast: Cast, client: Client, run_id: str
) -> None:
    # 300 kWh in 10 s is 108 MW: certainly Wh or J sent as kWh.
    assert_refused(
        post(client, cast, run_id, [measurement(duration_s=10, gpu_kwh=30.0)]), "is it in kWh"
    )
    zero = measurement(duration_s=10, gpu_kwh=0.001)
    zero["end"] = zero["start"]
    zero["duration_s"] = 0
    assert_refused(post(client, cast, run_id, [zero]), "zero seconds")


def test_it_refuses_a_number_too_large_for_a_float(cast: Cast, client: Client, run_id: str) -> None:
    body = json.dumps({"measurements": [measurement()]}).replace(
        '"duration_s": 10.0', '"duration_s": ' + "9" * 400
    )
    r = client.post(
        f"/api/v1/runs/{run_id}/measurements",
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {cast.ingest_key}",
    )
    assert_refused(r, "finite")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/runs", {"run_key": "n", "params": {"a": "x\u0000y"}}),
        ("/api/v1/runs", {"run_key": "n", "hardware": {"gpu_model": "A\u0000"}}),
        ("MEASUREMENTS", {"measurements": [measurement(node="a\u0000b")]}),
        ("FINISH", {"status": "finished", "metrics": {"note": "x\u0000"}}),
    ],
)
def test_it_refuses_text_with_nul_characters(
    cast: Cast, client: Client, run_id: str, path: str, body: dict[str, Any]
) -> None:
    path = {
        "MEASUREMENTS": f"/api/v1/runs/{run_id}/measurements",
        "FINISH": f"/api/v1/runs/{run_id}/finish",
    }.get(path, path)
    r = api(client, "post", path, cast.ingest_key, body)
    assert r.status_code == 400, r.content
    assert "NUL" in r.json()["message"]
    assert Measurement.objects.count() == 0
    assert Run.objects.count() == 1
    assert Run.objects.get().status == "running"


def test_it_refuses_a_run_started_in_the_future_or_finished_before_it_started(
    cast: Cast, client: Client, run_id: str
) -> None:
    r = api(
        client,
        "post",
        "/api/v1/runs",
        cast.ingest_key,
        {"run_key": "f", "started_at": "9999-01-01T00:00:00Z"},
    )
    assert r.status_code == 400
    assert "started_at" in r.json()["fields"]
    r = api(
        client,
        "post",
        f"/api/v1/runs/{run_id}/finish",
        cast.ingest_key,
        {"status": "finished", "ended_at": "2001-01-01T00:00:00Z"},
    )
    assert r.status_code == 400
    assert "ended_at" in r.json()["fields"]
    assert Run.objects.get().status == "running"
