"""Upgrading: figures stored before factor bases existed end up on one basis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

import carbon

BEFORE = [("api", "0003_measurement_unique_per_run")]


def latest() -> list[tuple[str, str]]:
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_an_organisation_with_eu_and_us_state_runs_ends_on_one_basis() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    org = apps.get_model("api", "Organisation").objects.create(name="Old Lab")
    project = apps.get_model("api", "Project").objects.create(organisation=org, name="p")
    exp = apps.get_model("api", "Experiment").objects.create(project=project, name="e")
    factor = apps.get_model("api", "EmissionFactor")
    old = carbon.get_dataset("hub-2025.1")
    run_model = apps.get_model("api", "Run")
    m_model = apps.get_model("api", "Measurement")
    start = datetime(2026, 9, 1, 10, tzinfo=UTC)
    for zone in ("FRA", "USA-CAMX"):
        f = old.factor(zone)
        fac = factor.objects.create(
            dataset_version="hub-2025.1", zone=zone, g_per_kwh=f.g_per_kwh, year=f.year,
            source=f.source[:300], is_fallback=False,
        )  # fmt: skip
        run = run_model.objects.create(
            project=project, experiment=exp, run_key=zone, zone=zone, zone_label=zone,
            pue=1.2, factor=fac, energy_kwh=1.0, cpu_energy_kwh=1.0,
            emissions_kg=1.2 * f.g_per_kwh / 1000,
        )  # fmt: skip
        m_model.objects.create(
            uuid=f"00000000-0000-0000-0000-00000000000{len(zone)}", run=run, start=start,
            end=start + timedelta(hours=1), duration_s=3600, cpu_energy_kwh=1.0, pue=1.2,
            intensity_g_per_kwh=f.g_per_kwh, emissions_kg=1.2 * f.g_per_kwh / 1000, factor=fac,
        )  # fmt: skip
        apps.get_model("api", "UsageHour").objects.create(
            project=project, hour=start, zone=zone, factor=fac, pue=1.2, energy_kwh=1.0,
            cpu_energy_kwh=1.0, facility_energy_kwh=1.2,
            emissions_kg=1.2 * f.g_per_kwh / 1000, measurement_count=1,
        )  # fmt: skip
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(latest())
        from api.models import Measurement, Organisation, Run, UsageHour

        org_now = Organisation.objects.get(name="Old Lab")
        assert org_now.basis == "lifecycle"
        bases = set(Measurement.objects.values_list("factor__basis", flat=True))
        assert bases == {"lifecycle"}
        assert set(UsageHour.objects.values_list("factor__basis", flat=True)) == {"lifecycle"}
        california = Run.objects.get(run_key="USA-CAMX")
        g = old.factor("USA-CAMX", "lifecycle").g_per_kwh
        assert california.factor.derived and california.factor.g_per_kwh == g
        assert california.emissions_kg == pytest.approx(1.2 * g / 1000)
        hour = UsageHour.objects.get(zone="USA-CAMX")
        assert hour.emissions_kg == pytest.approx(1.2 * g / 1000)
        # France was already lifecycle and is untouched.
        france = Run.objects.get(run_key="FRA")
        assert france.factor.g_per_kwh == old.factor("FRA").g_per_kwh
    finally:
        MigrationExecutor(connection).migrate(latest())
