"""Runs imported before the hub counted CodeCarbon's PUE are repaired once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.test import Client

from api.models import Measurement, Run, UsageHour
from tests.cast import Cast, api, measurement


def old_import(client: Client, cast: Cast, pue: float) -> Run:
    r = api(client, "post", "/api/v1/runs", cast.ingest_key, {"run_key": "cc", "country": "FRA"})
    start = datetime.now(UTC) - timedelta(hours=2)
    batch = [measurement(start=start + timedelta(seconds=20 * i), seq=i) for i in range(3)]
    api(
        client,
        "post",
        f"/api/v1/runs/{r.json()['id']}/measurements",
        cast.ingest_key,
        {"measurements": batch},
    )
    run = Run.objects.get()
    run.params = {"codecarbon_pue": pue}
    run.save()
    return run


def test_it_divides_the_energies_by_codecarbon_s_pue_once(cast: Cast, client: Client) -> None:
    run = old_import(client, cast, 1.5)
    before_kwh, before_kg = run.energy_kwh, run.emissions_kg
    out = StringIO()
    call_command("repair_imported_pue", stdout=out)
    assert "Repaired 1 runs" in out.getvalue()
    run.refresh_from_db()
    assert run.energy_kwh == pytest.approx(before_kwh / 1.5)
    assert run.emissions_kg == pytest.approx(before_kg / 1.5)
    assert run.params["source_pue"]["divided"] is True
    hours = UsageHour.objects.aggregate(kwh=Sum("energy_kwh"), kg=Sum("emissions_kg"))
    assert hours["kwh"] == pytest.approx(run.energy_kwh)
    assert hours["kg"] == pytest.approx(run.emissions_kg)
    call_command("repair_imported_pue", stdout=StringIO())
    run.refresh_from_db()
    assert run.energy_kwh == pytest.approx(before_kwh / 1.5)


def test_a_dry_run_changes_nothing(cast: Cast, client: Client) -> None:
    run = old_import(client, cast, 1.2)
    kwh = sum(m.energy_kwh for m in Measurement.objects.all())
    out = StringIO()
    call_command("repair_imported_pue", "--dry-run", stdout=out)
    assert "Would repair 1 runs" in out.getvalue()
    assert sum(m.energy_kwh for m in Measurement.objects.all()) == pytest.approx(kwh)
    run.refresh_from_db()
    assert "source_pue" not in run.params


def test_only_runs_still_holding_codecarbon_s_pue_need_the_repair() -> None:
    from types import SimpleNamespace

    from api.importers.common import needs_pue_repair

    def run(params: dict) -> SimpleNamespace:
        return SimpleNamespace(params=params)

    assert needs_pue_repair(run({"codecarbon_pue": 1.5}))
    assert not needs_pue_repair(run({"codecarbon_pue": 1.0}))
    assert not needs_pue_repair(run({"codecarbon_pue": 1.5, "source_pue": {"divided": True}}))
    assert not needs_pue_repair(run({}))
    assert not needs_pue_repair(run({"codecarbon_pue": "n/a"}))
