"""One factor basis per organisation: chosen, applied to every figure, never mixed."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Sum
from django.test import Client

import carbon
from api.models import EmissionFactor, Measurement, Run, UsageHour
from tests.cast import Cast, api, measurement

RUN = {"run_key": "job-1", "experiment": "bert", "country": "FRA", "pue": 1.2}


def post_run(client: Client, key: str, run_key: str = "job-1", **over: object) -> dict:
    r = api(client, "post", "/api/v1/runs", key, {**RUN, "run_key": run_key, **over})
    assert r.status_code in (200, 201), r.content
    run = r.json()
    r = api(
        client,
        "post",
        f"/api/v1/runs/{run['id']}/measurements",
        key,
        {"measurements": [measurement(seq=i) for i in range(3)]},
    )
    assert r.status_code in (200, 201), r.content
    return run


def org_factor_bases(cast: Cast) -> set[str]:
    used = EmissionFactor.objects.filter(measurements__run__project__organisation=cast.org)
    return set(used.values_list("basis", flat=True).distinct())


def test_a_new_organisation_reports_on_the_lifecycle_basis(cast: Cast, client: Client) -> None:
    post_run(client, cast.ingest_key)
    run = Run.objects.get()
    assert cast.org.basis == "lifecycle"
    assert run.factor.basis == "lifecycle"
    assert run.factor.g_per_kwh == carbon.get_dataset().factor("FRA", "lifecycle").g_per_kwh


def test_an_organisation_on_the_direct_basis_gets_direct_factors(
    cast: Cast, client: Client
) -> None:
    cast.org.basis = "direct"
    cast.org.save()
    post_run(client, cast.ingest_key)
    run = Run.objects.get()
    direct = carbon.get_dataset().factor("FRA", "direct")
    assert run.factor.basis == "direct" and run.factor.derived
    assert run.factor.g_per_kwh == direct.g_per_kwh
    energy = sum(m.energy_kwh for m in Measurement.objects.all())
    assert run.emissions_kg == pytest.approx(energy * 1.2 * direct.g_per_kwh / 1000.0)


def test_changing_the_basis_re_applies_every_figure_and_mixes_none(
    cast: Cast, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    post_run(client, cast.ingest_key, "fr")
    post_run(client, cast.ingest_key, "ca", country="USA", region="CA")
    before = Run.objects.aggregate(kg=Sum("emissions_kg"))["kg"]
    owner = cast.client_for("owner")
    with django_capture_on_commit_callbacks(execute=True):
        r = owner.post(f"/o/{cast.org.uuid}/basis", {"basis": "direct"})
    assert r.status_code == 302
    cast.org.refresh_from_db()
    assert cast.org.basis == "direct"
    assert org_factor_bases(cast) == {"direct"}
    assert set(Run.objects.values_list("factor__basis", flat=True)) == {"direct"}
    after = Run.objects.aggregate(kg=Sum("emissions_kg"))["kg"]
    assert after < before
    # The aggregates were rebuilt: hours, runs and measurements agree.
    hours = UsageHour.objects.aggregate(kg=Sum("emissions_kg"))["kg"]
    raw = Measurement.objects.aggregate(kg=Sum("emissions_kg"))["kg"]
    assert hours == pytest.approx(after) and raw == pytest.approx(after)
    california = Run.objects.get(run_key="ca")
    assert (
        california.factor.g_per_kwh == carbon.get_dataset().factor("USA-CAMX", "direct").g_per_kwh
    )
    assert not california.factor.derived
    page = owner.get(f"/o/{cast.org.uuid}/settings/").content.decode()
    assert "Direct combustion" in page and "derived" in page


def test_a_member_cannot_change_the_basis(cast: Cast, client: Client) -> None:
    r = cast.client_for("member").post(f"/o/{cast.org.uuid}/basis", {"basis": "direct"})
    assert r.status_code == 403
    cast.org.refresh_from_db()
    assert cast.org.basis == "lifecycle"


def test_an_unknown_basis_is_refused_with_a_message(cast: Cast) -> None:
    owner = cast.client_for("owner")
    r = owner.post(f"/o/{cast.org.uuid}/basis", {"basis": "marginal"}, follow=True)
    assert "is not a factor basis" in r.content.decode()
    cast.org.refresh_from_db()
    assert cast.org.basis == "lifecycle"


def test_the_other_organisation_keeps_its_basis(
    cast: Cast, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    post_run(client, cast.other_ingest_key, "theirs")
    with django_capture_on_commit_callbacks(execute=True):
        cast.client_for("owner").post(f"/o/{cast.org.uuid}/basis", {"basis": "direct"})
    theirs = Run.objects.get(run_key="theirs")
    assert theirs.factor.basis == "lifecycle"


def test_every_api_answer_that_carries_a_factor_names_its_basis(cast: Cast, client: Client) -> None:
    cast.org.basis = "direct"
    cast.org.save()
    run = post_run(client, cast.ingest_key)
    body = api(client, "get", f"/api/v1/runs/{run['id']}", cast.read_key).json()
    assert body["factor"]["basis"] == "direct" and body["factor"]["derived"] is True
    assert "IPCC AR5" in body["factor"]["note"]
    project = f"/api/v1/projects/{cast.project.uuid}"
    for path in (project, f"{project}/summary", f"{project}/series"):
        assert api(client, "get", path, cast.read_key).json()["basis"] == "direct", path
    org = api(client, "get", f"/api/v1/organisations/{cast.org.uuid}", cast.read_key).json()
    assert org["basis"] == "direct"
