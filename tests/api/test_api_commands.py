"""Management commands: create_api_key, apply_factors."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from api.models import ApiKey, Organisation, Project, Run, UsageHour
from tests.cast import Cast, api, measurement


def test_create_api_key_creates_org_and_project_and_prints_the_key_last(db: Any) -> None:
    out = io.StringIO()
    call_command(
        "create_api_key",
        "--org",
        "New Org",
        "--project",
        "p1",
        "--scope",
        "read",
        stdout=out,
        stderr=io.StringIO(),
    )
    key = out.getvalue().strip().splitlines()[-1]
    assert key.startswith("ehr_")
    stored = ApiKey.objects.get()
    assert stored.project == Project.objects.get(
        name="p1", organisation=Organisation.objects.get(name="New Org")
    )
    assert key not in stored.digest  # stored hashed
    assert ApiKey.lookup(key) == stored


def test_apply_factors_recomputes_a_period_and_rebuilds_aggregates(
    cast: Cast, client: Client
) -> None:
    run = api(client, "post", "/api/v1/runs", cast.ingest_key, {"run_key": "r", "pue": 1.0}).json()
    start = datetime.now(UTC) - timedelta(hours=2)
    api(
        client,
        "post",
        f"/api/v1/runs/{run['id']}/measurements",
        cast.ingest_key,
        {
            "measurements": [
                measurement(start=start, duration_s=3600, cpu_kwh=1, gpu_kwh=0, ram_kwh=0)
            ]
        },
    )
    # Simulate measurements stored under an older factor: tamper, then re-apply.
    from api.models import Measurement

    Measurement.objects.update(emissions_kg=99.0, intensity_g_per_kwh=99000.0)
    out = io.StringIO()
    day = start.date()
    call_command(
        "apply_factors",
        "--dataset",
        "hub-2025.1",
        "--start",
        str(day),
        "--end",
        str(day + timedelta(days=1)),
        stdout=out,
    )
    assert "1 measurements" in out.getvalue()
    assert Run.objects.get().emissions_kg == pytest.approx(0.056)  # 1 kWh x 1.0 x 56 g
    assert sum(h.emissions_kg for h in UsageHour.objects.all()) == pytest.approx(0.056)


def test_apply_factors_refuses_an_unknown_dataset(db: Any) -> None:
    with pytest.raises(CommandError, match="unknown dataset"):
        call_command(
            "apply_factors", "--dataset", "nope", "--start", "2026-01-01", "--end", "2026-02-01"
        )


def test_silent_codecarbon_runs_are_closed_as_finished_not_lost(cast: Cast, client: Client) -> None:
    from api.tasks import mark_lost_runs

    for key in ("native", "cc"):
        run = api(client, "post", "/api/v1/runs", cast.ingest_key, {"run_key": key}).json()
        api(
            client,
            "post",
            f"/api/v1/runs/{run['id']}/measurements",
            cast.ingest_key,
            {"measurements": [measurement()]},
        )
    Run.objects.filter(run_key="cc").update(source="codecarbon")
    Run.objects.update(last_seen_at=datetime.now(UTC) - timedelta(days=1))
    assert mark_lost_runs() == 1
    assert Run.objects.get(run_key="native").status == "lost"
    cc = Run.objects.get(run_key="cc")
    assert cc.status == "finished"
    assert cc.ended_at == cc.last_end


def test_rebuild_aggregates_moves_old_start_hour_rows_to_the_hours_they_span(
    cast: Cast, client: Client
) -> None:
    r = api(client, "post", "/api/v1/runs", cast.ingest_key, {"run_key": "old", "country": "FRA"})
    start = datetime.now(UTC).replace(minute=30, second=0, microsecond=0) - timedelta(hours=3)
    item = measurement(start=start, duration_s=3600, cpu_kwh=1.0, gpu_kwh=0.0, ram_kwh=0.0)
    api(
        client,
        "post",
        f"/api/v1/runs/{r.json()['id']}/measurements",
        cast.ingest_key,
        {"measurements": [item]},
    )
    # Rows as an older hub wrote them: the whole interval in its start hour.
    UsageHour.objects.all().delete()
    run = Run.objects.get()
    UsageHour.objects.create(
        project=cast.project,
        hour=start.replace(minute=0),
        zone=run.zone,
        factor=run.factor,
        pue=run.pue,
        energy_kwh=1.0,
        cpu_energy_kwh=1.0,
        measurement_count=1,
    )
    out = io.StringIO()
    call_command("rebuild_aggregates", stdout=out)
    assert "Rebuilt" in out.getvalue()
    assert UsageHour.objects.count() == 2
    assert sum(h.energy_kwh for h in UsageHour.objects.all()) == pytest.approx(1.0)
    assert {round(h.energy_kwh, 9) for h in UsageHour.objects.all()} == {0.5}
