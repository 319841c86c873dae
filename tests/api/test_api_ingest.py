"""Ingestion: runs by client key, idempotent batches, accounting against hand-computed numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from api.models import Measurement, Run, UsageHour
from tests.cast import Cast, api, measurement

RUN = {"run_key": "job-1", "experiment": "bert", "country": "FRA", "pue": 1.2}


def create_run(client: Client, key: str, **over: object) -> dict:
    r = api(client, "post", "/api/v1/runs", key, {**RUN, **over})
    assert r.status_code in (200, 201), r.content
    return r.json()


def test_it_creates_a_run_and_returns_zone_intensity_and_page_url(
    cast: Cast, client: Client
) -> None:
    r = api(client, "post", "/api/v1/runs", cast.ingest_key, RUN)
    assert r.status_code == 201
    body = r.json()
    assert body["zone"] == "FRA"
    assert body["location_known"] is True
    assert body["intensity_g_per_kwh"] == 40.48  # France, Ember 2024, lifecycle
    assert body["pue"] == 1.2
    assert body["url"].endswith(f"/runs/{body['id']}/")
    assert body["experiment"] == "bert"


def test_creating_the_same_run_key_twice_returns_the_same_run(cast: Cast, client: Client) -> None:
    first = api(client, "post", "/api/v1/runs", cast.ingest_key, RUN)
    second = api(client, "post", "/api/v1/runs", cast.ingest_key, RUN)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert Run.objects.count() == 1


def test_the_same_batch_posted_twice_gives_the_same_totals(cast: Cast, client: Client) -> None:
    run = create_run(client, cast.ingest_key)
    batch = [measurement(seq=i) for i in range(5)]
    r1 = api(
        client,
        "post",
        f"/api/v1/runs/{run['id']}/measurements",
        cast.ingest_key,
        {"measurements": batch},
    )
    r2 = api(
        client,
        "post",
        f"/api/v1/runs/{run['id']}/measurements",
        cast.ingest_key,
        {"measurements": batch},
    )
    assert (r1.json()["accepted"], r1.json()["duplicates"]) == (5, 0)
    assert (r2.json()["accepted"], r2.json()["duplicates"]) == (0, 5)
    assert r1.json()["run"]["energy_kwh"] == pytest.approx(r2.json()["run"]["energy_kwh"])
    assert Measurement.objects.count() == 5
    assert sum(h.measurement_count for h in UsageHour.objects.all()) == 5


def test_a_partly_known_batch_counts_accepted_and_duplicates(cast: Cast, client: Client) -> None:
    run = create_run(client, cast.ingest_key)
    old = [measurement() for _ in range(3)]
    api(
        client,
        "post",
        f"/api/v1/runs/{run['id']}/measurements",
        cast.ingest_key,
        {"measurements": old},
    )
    r = api(
        client,
        "post",
        f"/api/v1/runs/{run['id']}/measurements",
        cast.ingest_key,
        {"measurements": [*old[:2], measurement()]},
    )
    assert (r.json()["accepted"], r.json()["duplicates"]) == (1, 2)
    assert r.json()["run"]["measurement_count"] == 4


def test_accounting_matches_hand_computed_numbers(cast: Cast, client: Client) -> None:
    # 2 intervals of 1.0 kWh CPU + 2.0 kWh GPU + 0.5 kWh RAM = 7 kWh IT energy.
    # Facility energy 7 x 1.2 = 8.4 kWh; France 40.48 g/kWh -> 8.4 x 40.48 / 1000 = 0.340032 kg.
    run = create_run(client, cast.ingest_key)
    start = datetime.now(UTC) - timedelta(hours=3)
    batch = [
        measurement(
            start=start, duration_s=3600, cpu_kwh=1.0, gpu_kwh=2.0, ram_kwh=0.5, gpu_count=2
        ),
        measurement(
            start=start + timedelta(hours=1),
            duration_s=3600,
            cpu_kwh=1.0,
            gpu_kwh=2.0,
            ram_kwh=0.5,
            gpu_count=2,
        ),
    ]
    r = api(
        client,
        "post",
        f"/api/v1/runs/{run['id']}/measurements",
        cast.ingest_key,
        {"measurements": batch},
    )
    out = r.json()["run"]
    assert out["energy_kwh"] == pytest.approx(7.0)
    assert out["facility_energy_kwh"] == pytest.approx(8.4)
    assert out["emissions_kg"] == pytest.approx(0.340032)
    assert out["gpu_hours"] == pytest.approx(4.0)  # 2 GPUs x 2 h
    # rapl + nvml_energy are measured, the RAM model is estimated: 6 of 7 kWh measured.
    assert out["measured_energy_kwh"] == pytest.approx(6.0)
    assert out["estimated_energy_kwh"] == pytest.approx(1.0)
    summary = api(
        client, "get", f"/api/v1/projects/{cast.project.uuid}/summary", cast.read_key
    ).json()
    assert summary["energy_kwh"] == pytest.approx(7.0)
    assert summary["emissions_kg"] == pytest.approx(0.340032)
    assert summary["run_count"] == 1
    assert summary["measured_share"] == round(6 / 7, 4)  # shares to 4 decimals (api.precision)


def test_unknown_location_falls_back_to_the_world_average_and_is_flagged(
    cast: Cast, client: Client
) -> None:
    cast.project.country = ""
    cast.project.save()
    body = create_run(client, cast.ingest_key, run_key="nowhere", country=None)
    assert body["zone"] == "WORLD"
    assert body["location_known"] is False
    assert body["factor"]["fallback"] is True


def test_a_cloud_region_resolves_to_its_grid_zone_and_provider_pue(
    cast: Cast, client: Client
) -> None:
    body = create_run(
        client,
        cast.ingest_key,
        run_key="cloud",
        country=None,
        pue=None,
        cloud_provider="aws",
        cloud_region="us-east-1",
    )
    assert body["zone"] == "USA-SRVC"
    assert body["pue"] == 1.15


def test_finish_records_status_and_metrics_and_is_harmless_twice(
    cast: Cast, client: Client
) -> None:
    run = create_run(client, cast.ingest_key)
    for _ in range(2):
        r = api(
            client,
            "post",
            f"/api/v1/runs/{run['id']}/finish",
            cast.ingest_key,
            {"status": "finished", "metrics": {"accuracy": 0.9}},
        )
        assert r.status_code == 200
    assert r.json()["status"] == "finished"
    assert r.json()["metrics"] == {"accuracy": 0.9}


def test_prediction_is_stored_with_the_emissions_it_implies(cast: Cast, client: Client) -> None:
    run = create_run(client, cast.ingest_key)
    r = api(
        client,
        "post",
        f"/api/v1/runs/{run['id']}/prediction",
        cast.ingest_key,
        {"epochs_done": 2, "epochs_total": 10, "predicted_energy_kwh": 10.0},
    )
    assert r.status_code == 200
    # 10 kWh x 1.2 x 40.48 g/kWh = 0.48576 kg
    assert r.json()["predicted_emissions_kg"] == pytest.approx(0.48576)


def test_an_ingest_key_creates_experiments_by_name_in_its_project(
    cast: Cast, client: Client
) -> None:
    r = api(client, "post", "/api/v1/experiments", cast.ingest_key, {"name": "sweep-7"})
    assert r.status_code == 201
    again = api(client, "post", "/api/v1/experiments", cast.ingest_key, {"name": "sweep-7"})
    assert again.status_code == 200
    assert again.json()["id"] == r.json()["id"]
    assert again.json()["project_id"] == str(cast.project.uuid)


def test_ranks_of_one_job_join_the_same_run_and_count_each_gpu_once(
    cast: Cast, client: Client
) -> None:
    ids = {
        create_run(client, cast.ingest_key, run_key="torchelastic-42", rank_count=4)["id"]
        for _ in range(4)
    }
    assert len(ids) == 1
    run_id = ids.pop()
    for rank in range(4):
        batch = [
            measurement(
                rank=rank,
                node=f"n{rank // 2}",
                gpu_kwh=1.0,
                cpu_kwh=0.0,
                ram_kwh=0.0,
                duration_s=3600,
                gpu_count=1,
            )
        ]
        api(
            client,
            "post",
            f"/api/v1/runs/{run_id}/measurements",
            cast.ingest_key,
            {"measurements": batch},
        )
    run = api(client, "get", f"/api/v1/runs/{run_id}", cast.read_key).json()
    assert run["gpu_energy_kwh"] == pytest.approx(4.0)
    assert run["gpu_hours"] == pytest.approx(4.0)
    assert run["rank_count"] == 4
