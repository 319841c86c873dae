"""Read API: run lists, summaries, time series, experiments, schema and docs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from tests.cast import Cast, api, measurement


def post_run(client: Client, cast: Cast, key: str, exp: str, start: datetime, kwh: float) -> str:
    run = api(
        client,
        "post",
        "/api/v1/runs",
        cast.ingest_key,
        {"run_key": key, "experiment": exp, "started_at": start.isoformat()},
    ).json()
    item = measurement(start=start, duration_s=3600, cpu_kwh=0.0, gpu_kwh=kwh, ram_kwh=0.0)
    api(
        client,
        "post",
        f"/api/v1/runs/{run['id']}/measurements",
        cast.ingest_key,
        {"measurements": [item]},
    )
    return str(run["id"])


def test_runs_of_an_experiment_are_listed_newest_first(cast: Cast, client: Client) -> None:
    base = datetime(2026, 10, 1, tzinfo=UTC)
    ids = [post_run(client, cast, f"r{i}", "bert", base + timedelta(days=i), 1.0) for i in range(3)]
    post_run(client, cast, "x", "other", base, 1.0)
    body = api(client, "get", "/api/v1/runs?experiment=bert", cast.read_key).json()
    assert [r["id"] for r in body["results"]] == list(reversed(ids))
    assert body["count"] == 3
    for r in body["results"]:
        assert {"id", "status", "energy_kwh", "emissions_kg", "measurement_count"} <= set(r)
        assert r["measurement_count"] == 1


def test_project_summary_covers_only_the_period(cast: Cast, client: Client) -> None:
    post_run(client, cast, "sep", "e", datetime(2026, 9, 10, tzinfo=UTC), 2.0)
    post_run(client, cast, "oct", "e", datetime(2026, 10, 10, tzinfo=UTC), 3.0)
    url = f"/api/v1/projects/{cast.project.uuid}/summary?start=2026-10-01T00:00:00Z&end=2026-11-01T00:00:00Z"
    body = api(client, "get", url, cast.read_key).json()
    assert body["energy_kwh"] == pytest.approx(3.0)
    assert body["run_count"] == 1
    # Default on-premises PUE 1.56 and the factor of France in the current dataset.
    from api.models import Run

    oct_run = Run.objects.select_related("factor").get(run_key="oct")
    assert oct_run.factor.zone == "FRA" and oct_run.pue == 1.56
    assert body["emissions_kg"] == pytest.approx(
        3 * 1.56 * oct_run.factor.g_per_kwh / 1000, abs=5e-7
    )
    listed = api(client, "get", "/api/v1/projects", cast.read_key).json()["results"]
    assert listed == [pytest.approx(listed[0])] and {"id", "name"} <= set(listed[0])


@pytest.mark.parametrize(("bucket", "points"), [("hour", 3), ("day", 2), ("week", 2), ("month", 1)])
def test_series_are_bucketed(cast: Cast, client: Client, bucket: str, points: int) -> None:
    # 2026-10-05 is a Monday; the 12th is the next Monday.
    post_run(client, cast, "a", "e", datetime(2026, 10, 5, 10, tzinfo=UTC), 1.0)
    post_run(client, cast, "b", "e", datetime(2026, 10, 5, 11, tzinfo=UTC), 1.0)
    post_run(client, cast, "c", "e", datetime(2026, 10, 12, 9, tzinfo=UTC), 1.0)
    body = api(
        client, "get", f"/api/v1/projects/{cast.project.uuid}/series?bucket={bucket}", cast.read_key
    ).json()
    # Quiet buckets between busy ones are there too, with zeros.
    assert len([p for p in body["points"] if p["energy_kwh"] > 0]) == points
    assert sum(p["energy_kwh"] for p in body["points"]) == pytest.approx(3.0)
    org = api(
        client,
        "get",
        f"/api/v1/organisations/{cast.org.uuid}/series?bucket={bucket}",
        cast.read_key,
    ).json()
    assert sum(p["energy_kwh"] for p in org["points"]) == pytest.approx(3.0)
    assert {p["project"] for p in org["points"]} == {"vision"}


def test_experiment_detail_counts_failed_and_lost_runs(cast: Cast, client: Client) -> None:
    from api.models import Run

    a = post_run(client, cast, "a", "e", datetime(2026, 10, 1, tzinfo=UTC), 1.0)
    post_run(client, cast, "b", "e", datetime(2026, 10, 2, tzinfo=UTC), 2.0)
    api(client, "post", f"/api/v1/runs/{a}/finish", cast.ingest_key, {"status": "failed"})
    Run.objects.filter(run_key="b").update(status="lost")
    exp = Run.objects.get(run_key="a").experiment
    body = api(client, "get", f"/api/v1/experiments/{exp.uuid}", cast.read_key).json()
    assert body["energy_kwh"] == pytest.approx(3.0)
    assert body["runs_by_status"] == {"failed": 1, "lost": 1}


def test_run_series_gives_power_per_component(cast: Cast, client: Client) -> None:
    run_id = post_run(client, cast, "s", "e", datetime(2026, 10, 1, tzinfo=UTC), 0.3)
    body = api(client, "get", f"/api/v1/runs/{run_id}/series", cast.read_key).json()
    assert body["points"]
    # 0.3 kWh over 1 h is 300 W
    mean_gpu = sum(p["gpu_power_w"] * body["bucket_s"] for p in body["points"]) / 3600
    assert mean_gpu == pytest.approx(300.0)
    assert body["points"][-1]["energy_kwh_cum"] == pytest.approx(0.3)


def test_the_openapi_schema_and_docs_are_served(client: Client) -> None:
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/runs/{run_id}/measurements" in schema.content
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200


def test_a_run_answers_one_start_and_end_that_its_duration_spans(
    cast: Cast, client: Client
) -> None:
    # Registered at 10:00, measured from 10:01 to 10:03, finished with a later client clock.
    registered = datetime(2026, 10, 1, 10, tzinfo=UTC)
    run = api(
        client,
        "post",
        "/api/v1/runs",
        cast.ingest_key,
        {"run_key": "times", "started_at": registered.isoformat()},
    ).json()
    first = registered + timedelta(minutes=1)
    items = [
        measurement(start=first + timedelta(seconds=60 * i), duration_s=60.0) for i in range(2)
    ]
    api(
        client,
        "post",
        f"/api/v1/runs/{run['id']}/measurements",
        cast.ingest_key,
        {"measurements": items},
    )
    running = api(client, "get", f"/api/v1/runs/{run['id']}", cast.read_key).json()
    assert running["ended_at"] is None
    started = datetime.fromisoformat(running["started_at"])
    # While it runs, the duration reaches up to the last measurement's end (10:03).
    assert started + timedelta(seconds=running["duration_s"]) == first + timedelta(minutes=2)
    finished = api(
        client,
        "post",
        f"/api/v1/runs/{run['id']}/finish",
        cast.ingest_key,
        {"status": "finished", "ended_at": (first + timedelta(minutes=5)).isoformat()},
    ).json()
    detail = api(client, "get", f"/api/v1/runs/{run['id']}", cast.read_key).json()
    listed = api(client, "get", "/api/v1/runs", cast.read_key).json()["results"][0]
    series = api(client, "get", f"/api/v1/runs/{run['id']}/series", cast.read_key).json()["run"]
    for answer in (finished, detail, listed, series):
        start = datetime.fromisoformat(answer["started_at"])
        end = datetime.fromisoformat(answer["ended_at"])
        # One truth: the answer's own start plus its duration is its end, in every answer.
        assert start + timedelta(seconds=answer["duration_s"]) == end
        assert (answer["started_at"], answer["ended_at"]) == (
            detail["started_at"],
            detail["ended_at"],
        )


def test_a_run_finished_without_measurements_lasts_from_its_start_to_its_end(
    cast: Cast, client: Client
) -> None:
    start = datetime(2026, 10, 1, 10, tzinfo=UTC)
    run = api(
        client,
        "post",
        "/api/v1/runs",
        cast.ingest_key,
        {"run_key": "empty", "started_at": start.isoformat()},
    ).json()
    api(
        client,
        "post",
        f"/api/v1/runs/{run['id']}/finish",
        cast.ingest_key,
        {"status": "failed", "ended_at": (start + timedelta(minutes=5)).isoformat()},
    )
    body = api(client, "get", f"/api/v1/runs/{run['id']}", cast.read_key).json()
    assert datetime.fromisoformat(body["started_at"]) == start
    assert datetime.fromisoformat(body["ended_at"]) == start + timedelta(minutes=5)
    assert body["duration_s"] == 300.0
