"""Hostile values in known fields of the native API: each is a clear 400 that stores
nothing, never a 500 and never a silent conversion (issue 12)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from api.models import Experiment, Measurement, Run
from tests.cast import Cast, api, measurement

HUGE = "1" + "0" * 400  # an integer Python reads, beyond every float
TOO_LARGE = "is a number too large to store; the hub keeps numbers within \u00b11.8e308"


@pytest.fixture
def run_id(cast: Cast, client: Client) -> str:
    r = api(client, "post", "/api/v1/runs", cast.ingest_key, {"run_key": "h", "experiment": "e"})
    return str(r.json()["id"])


def post_text(client: Client, cast: Cast, path: str, text: str) -> Any:
    """POST a JSON text as written (``HUGE`` stands for the 400-digit integer)."""
    return client.post(
        path,
        data=text.replace("HUGE", HUGE),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {cast.ingest_key}",
    )


def refused(r: Any, field: str, message: str) -> None:
    assert r.status_code == 400, r.content
    body = r.json()
    assert body["error"] == "invalid"
    assert message in json.dumps(body["fields"][field], ensure_ascii=False), body


def pages_answer(cast: Cast, client: Client) -> None:
    """Every run's API answer, run page and experiment page still render."""
    viewer = cast.client_for("viewer")
    assert api(client, "get", "/api/v1/runs", cast.read_key).status_code == 200
    for run in Run.objects.select_related("experiment"):
        assert api(client, "get", f"/api/v1/runs/{run.uuid}", cast.read_key).status_code == 200
        assert viewer.get(f"/o/{cast.org.uuid}/runs/{run.uuid}/").status_code == 200
        exp = f"/o/{cast.org.uuid}/experiments/{run.experiment.uuid}/"
        assert viewer.get(exp).status_code == 200


@pytest.mark.parametrize(
    ("body", "field", "where"),
    [
        ('{"run_key": "n", "params": {"lr": HUGE}}', "params", "params.lr"),
        ('{"run_key": "n", "params": {"grid": {"lr": [1, 1e400]}}}', "params", "params.grid.lr[1]"),
        (
            '{"run_key": "n", "hardware": {"npu_count": HUGE}}',
            "hardware",
            "hardware.npu_count",
        ),
        ('{"run_key": "n", "hardware": {"npu_count": 1e400}}', "hardware", "hardware.npu_count"),
    ],
)
def test_a_run_holding_a_number_too_large_for_a_float_is_refused(
    cast: Cast, client: Client, body: str, field: str, where: str
) -> None:
    refused(post_text(client, cast, "/api/v1/runs", body), field, f"{where} {TOO_LARGE}")
    assert Run.objects.count() == 0


def test_a_metric_too_large_for_a_float_is_refused_and_the_largest_float_is_kept(
    cast: Cast, client: Client, run_id: str
) -> None:
    finish = f"/api/v1/runs/{run_id}/finish"
    for number in ("HUGE", "-HUGE", "1e400"):
        r = post_text(
            client, cast, finish, f'{{"status": "finished", "metrics": {{"loss": {number}}}}}'
        )
        refused(r, "metrics", f"metrics.loss {TOO_LARGE}")
    run = Run.objects.get()
    assert (run.status, run.metrics) == ("running", {})
    r = post_text(client, cast, finish, '{"status": "finished", "metrics": {"loss": 1.7e308}}')
    assert r.status_code == 200, r.content
    # PostgreSQL's jsonb gives it back as a 309-digit integer, which a float still holds.
    assert float(Run.objects.get().metrics["loss"]) == 1.7e308
    pages_answer(cast, client)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/runs", {"run_key": "b", "pue": True}, "pue"),
        ("/api/v1/runs", {"run_key": "b", "pue": "1.2"}, "pue"),
        ("/api/v1/runs", {"run_key": "b", "hardware": {"ram_gb": True}}, "hardware"),
        (
            "PREDICTION",
            {"epochs_done": 1, "epochs_total": 2, "predicted_energy_kwh": True},
            "predicted_energy_kwh",
        ),
    ],
)
def test_a_number_field_takes_only_a_json_number(
    cast: Cast, client: Client, run_id: str, path: str, body: dict[str, Any], field: str
) -> None:
    path = path.replace("PREDICTION", f"/api/v1/runs/{run_id}/prediction")
    refused(api(client, "post", path, cast.ingest_key, body), field, "must be a number")
    run = Run.objects.get()  # the fixture's run alone, unchanged
    assert (run.predicted_energy_kwh, run.hardware) == (None, {})


def test_a_number_beyond_every_float_in_a_number_field_is_refused(
    cast: Cast, client: Client
) -> None:
    r = post_text(client, cast, "/api/v1/runs", '{"run_key": "b", "pue": HUGE}')
    refused(r, "pue", "must be a finite number")
    assert Run.objects.count() == 0


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/runs", {"run_key": "w", "node_count": "4"}, "node_count"),
        ("/api/v1/runs", {"run_key": "w", "epochs_total": 10.0}, "epochs_total"),
        ("/api/v1/runs", {"run_key": "w", "hardware": {"gpu_count": "8"}}, "hardware"),
        (
            "PREDICTION",
            {"epochs_done": "1", "epochs_total": 2, "predicted_energy_kwh": 1},
            "epochs_done",
        ),
    ],
)
def test_a_whole_number_field_takes_only_a_json_integer(
    cast: Cast, client: Client, run_id: str, path: str, body: dict[str, Any], field: str
) -> None:
    path = path.replace("PREDICTION", f"/api/v1/runs/{run_id}/prediction")
    refused(api(client, "post", path, cast.ingest_key, body), field, "must be a whole number")
    assert Run.objects.count() == 1
    assert Run.objects.get().epochs_done is None


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/runs", {"run_key": 5}, "run_key"),
        ("/api/v1/runs", {"run_key": "t", "name": 5}, "name"),
        ("/api/v1/runs", {"run_key": "t", "experiment": 7}, "experiment"),
        ("/api/v1/runs", {"run_key": "t", "country": 250}, "country"),
        ("/api/v1/runs", {"run_key": "t", "tags": ["ok", 1]}, "tags"),
        ("/api/v1/runs", {"run_key": "t", "software": {"python": 3.11}}, "software"),
        ("/api/v1/runs", {"run_key": "t", "hardware": {"gpu_model": 100}}, "hardware"),
        ("/api/v1/experiments", {"name": 42}, "name"),
    ],
)
def test_a_text_field_takes_only_a_json_string(
    cast: Cast, client: Client, path: str, body: dict[str, Any], field: str
) -> None:
    refused(api(client, "post", path, cast.ingest_key, body), field, "must be a string")
    assert Run.objects.count() == 0
    assert not Experiment.objects.filter(name__in=["7", "42"]).exists()


def quiet(start: datetime, end: datetime, **over: Any) -> dict[str, Any]:
    """A measurement holding no energy from ``start`` to ``end``, without duration_s."""
    item = measurement(start=start, cpu_kwh=0, gpu_kwh=0, ram_kwh=0, **over)
    item.update(end=end.isoformat(), cpu_method="none", gpu_method="none", ram_method="none")
    del item["duration_s"]
    return item


def test_a_measurement_spans_at_most_a_day(cast: Cast, client: Client, run_id: str) -> None:
    path = f"/api/v1/runs/{run_id}/measurements"
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    years = quiet(datetime(2000, 6, 1, tzinfo=UTC), end)
    r = api(client, "post", path, cast.ingest_key, {"measurements": [years]})
    assert r.status_code == 400, r.content
    assert "one measurement spans at most 86400 s (24 h)" in r.json()["fields"]["0"]["end"]
    two_days = measurement(start=end - timedelta(days=2), duration_s=2 * 86400.0)
    r = api(client, "post", path, cast.ingest_key, {"measurements": [two_days]})
    assert r.status_code == 400, r.content
    assert r.json()["fields"]["0"]["duration_s"] == "must be at most 86400"
    assert Measurement.objects.count() == 0
    day = quiet(end - timedelta(days=1), end)
    r = api(client, "post", path, cast.ingest_key, {"measurements": [day]})
    assert r.status_code == 200, r.content
    assert Measurement.objects.get().duration_s == 86400.0


def test_a_uuid_repeated_in_a_batch_counts_as_a_duplicate(
    cast: Cast, client: Client, run_id: str
) -> None:
    first, other = measurement(), measurement()
    repeat = {**measurement(), "uuid": first["uuid"]}
    batch = {"measurements": [first, repeat, other, first]}
    path = f"/api/v1/runs/{run_id}/measurements"
    body = api(client, "post", path, cast.ingest_key, batch).json()
    assert (body["accepted"], body["duplicates"]) == (2, 2)
    assert body["run"]["measurement_count"] == Measurement.objects.count() == 2
    again = api(client, "post", path, cast.ingest_key, batch).json()
    assert (again["accepted"], again["duplicates"]) == (0, 4)


@pytest.mark.parametrize(
    "query",
    [
        "start=9999-12-31T23:00:00Z&end=9999-12-31T23:59:59Z&bucket=hour",
        "start=0001-01-01T00:00:00Z&end=9999-12-31T23:59:59Z",
        "start=0001-01-01T00:00:00Z",
    ],
)
def test_a_read_range_at_the_ends_of_pythons_dates_is_refused(
    cast: Cast, client: Client, query: str
) -> None:
    for path in (
        f"/api/v1/projects/{cast.project.uuid}/series",
        f"/api/v1/organisations/{cast.org.uuid}/series",
        f"/api/v1/projects/{cast.project.uuid}/summary",
    ):
        answer = api(client, "get", f"{path}?{query}", cast.read_key)
        assert answer.status_code == 400, (path, answer.content)
        assert "outside the range the hub reads" in json.dumps(answer.json()["fields"])
