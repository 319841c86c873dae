"""The CodeCarbon-compatible endpoints, called as the CodeCarbon client calls them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from api.models import Experiment, Measurement, Run, RunSource
from tests.cast import Cast

BASE = "/api/codecarbon"
DEFAULT_EXPERIMENT = "5b0fa12a-3dd7-45bb-9766-cc326314d9f1"


def cc(client: Client, method: str, path: str, token: str | None, body: Any = None) -> Any:
    headers = {"HTTP_X_API_TOKEN": token} if token is not None else {}
    fn = getattr(client, method)
    if body is None:
        return fn(BASE + path, **headers)
    return fn(BASE + path, data=json.dumps(body), content_type="application/json", **headers)


def run_body(**over: Any) -> dict[str, Any]:
    body = {
        "timestamp": datetime.now(UTC).isoformat(),
        "experiment_id": DEFAULT_EXPERIMENT,
        "os": "Linux-6.1",
        "python_version": "3.11.7",
        "codecarbon_version": "3.3.2",
        "cpu_count": 16,
        "cpu_model": "AMD EPYC 7B12",
        "gpu_count": 2,
        "gpu_model": "2 x NVIDIA A100",
        "longitude": None,
        "latitude": None,
        "region": None,
        "provider": None,
        "ram_total_size": 62.7,
        "tracking_mode": "machine",
    }
    body.update(over)
    return body


def emission_body(run_id: str, end: datetime | None = None, **over: Any) -> dict[str, Any]:
    end = end or datetime.now(UTC) - timedelta(minutes=5)
    body = {
        "timestamp": end.isoformat(),
        "run_id": run_id,
        "duration": 120,
        "emissions_sum": 0.003,
        "emissions_rate": 0.000025,
        "cpu_power": 42.5,
        "gpu_power": 600.0,
        "ram_power": 23.5,
        "cpu_energy": 0.0014,
        "gpu_energy": 0.02,
        "ram_energy": 0.0008,
        "energy_consumed": 0.0222,
        "cpu_utilization_percent": 35.0,
        "gpu_utilization_percent": 97.0,
        "ram_utilization_percent": 40.0,
        "wue": 0.0,
    }
    body.update(over)
    return body


def new_run(client: Client, cast: Cast, **over: Any) -> str:
    r = cc(client, "post", "/runs", cast.ingest_key, run_body(**over))
    assert r.status_code == 201, r.content
    return str(r.json()["id"])


def test_it_refuses_codecarbons_default_api_key_with_how_to_configure(
    cast: Cast, client: Client
) -> None:
    r = cc(client, "post", "/runs", "api_key", run_body())
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorised"
    assert "api_key" in r.json()["message"] and ".codecarbon.config" in r.json()["message"]


def test_it_refuses_a_missing_or_wrong_token_with_401(cast: Cast, client: Client) -> None:
    missing = cc(client, "post", "/runs", None, run_body())
    assert missing.status_code == 401
    assert "x-api-token" in missing.json()["message"]
    wrong = cc(client, "post", "/runs", "ehi_" + "x" * 40, run_body())
    assert wrong.status_code == 401
    assert "not a valid hub API key" in wrong.json()["message"]


def test_it_refuses_a_read_key(cast: Cast, client: Client) -> None:
    r = cc(client, "post", "/runs", cast.read_key, run_body())
    assert r.status_code == 403
    assert "ingest" in r.json()["message"]


def test_runs_answer_201_with_an_id_in_the_default_experiment(cast: Cast, client: Client) -> None:
    run_id = new_run(client, cast)
    run = Run.objects.get(uuid=run_id)
    assert run.project == cast.project
    assert run.source == RunSource.CODECARBON
    assert run.run_key.startswith("codecarbon:")
    assert run.experiment == cast.project.default_experiment()
    assert run.hardware == {
        "cpu_model": "AMD EPYC 7B12",
        "gpu_model": "2 x NVIDIA A100",
        "cpu_count": 16,
        "gpu_count": 2,
        "ram_gb": 62.7,
    }
    assert run.software["codecarbon_version"] == "3.3.2"
    # No country from CodeCarbon: the project's location decides.
    assert run.zone == "FRA"


def test_a_doubled_slash_is_tolerated(cast: Cast, client: Client) -> None:
    r = client.post(
        "/api/codecarbon//runs",
        data=json.dumps(run_body()),
        content_type="application/json",
        HTTP_X_API_TOKEN=cast.ingest_key,
    )
    assert r.status_code == 201


def test_two_identical_run_posts_at_once_are_one_run(cast: Cast, client: Client) -> None:
    # CodeCarbon 3.3.2 registers its run from two threads at the first send.
    now = datetime.now(UTC)
    a = new_run(client, cast, timestamp=now.isoformat())
    b = new_run(client, cast, timestamp=(now + timedelta(milliseconds=40)).isoformat())
    assert a == b
    other = new_run(client, cast, timestamp=now.isoformat(), cpu_model="Intel Xeon")
    assert other != a


def test_a_hub_experiment_id_maps_to_that_experiment(cast: Cast, client: Client) -> None:
    exp = Experiment.objects.create(project=cast.project, name="sweep", country="DEU")
    run = Run.objects.get(uuid=new_run(client, cast, experiment_id=str(exp.uuid)))
    assert run.experiment == exp
    assert run.zone == "DEU"  # the experiment's location before the project's


def test_another_projects_experiment_id_is_refused(cast: Cast, client: Client) -> None:
    foreign = Experiment.objects.create(project=cast.other_project, name="secret")
    r = cc(client, "post", "/runs", cast.ingest_key, run_body(experiment_id=str(foreign.uuid)))
    assert r.status_code == 400
    assert "experiment_id" in r.json()["fields"]
    assert Run.objects.count() == 0


def test_an_emission_becomes_one_imported_measurement(cast: Cast, client: Client) -> None:
    run_id = new_run(client, cast)
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    r = cc(client, "post", "/emissions", cast.ingest_key, emission_body(run_id, end))
    assert r.status_code == 201, r.content
    m = Measurement.objects.get(run__uuid=run_id)
    assert m.end == end and m.start == end - timedelta(seconds=120)
    assert m.duration_s == 120
    assert (m.cpu_energy_kwh, m.gpu_energy_kwh, m.ram_energy_kwh) == (0.0014, 0.02, 0.0008)
    assert (m.cpu_method, m.gpu_method, m.ram_method) == ("imported", "imported", "imported")
    assert (m.cpu_power_w, m.gpu_power_w, m.gpu_utilization_pct) == (42.5, 600.0, 97.0)
    assert m.gpu_count == 2
    assert m.client_emissions_kg == 0.003
    assert m.client_intensity_g_per_kwh == pytest.approx(0.003 / 0.0222 * 1000)
    # The hub's own figure: IT energy x PUE x the project's (France) factor.
    assert m.emissions_kg == pytest.approx(0.0222 * m.pue * m.intensity_g_per_kwh / 1000)
    run = Run.objects.get(uuid=run_id)
    assert run.energy_kwh == pytest.approx(0.0222)
    assert run.client_emissions_kg == pytest.approx(0.003)
    assert run.gpu_hours == pytest.approx(2 * 120 / 3600)


def test_a_resent_emission_counts_once(cast: Cast, client: Client) -> None:
    run_id = new_run(client, cast)
    body = emission_body(run_id)
    assert cc(client, "post", "/emissions", cast.ingest_key, body).json()["accepted"] == 1
    again = cc(client, "post", "/emissions", cast.ingest_key, body)
    assert again.status_code == 201
    assert again.json() == {"run_id": run_id, "accepted": 0, "duplicates": 1}
    assert Run.objects.get(uuid=run_id).energy_kwh == pytest.approx(0.0222)


def test_it_rejects_bad_emissions_with_field_messages(cast: Cast, client: Client) -> None:
    run_id = new_run(client, cast)
    negative = cc(
        client, "post", "/emissions", cast.ingest_key, emission_body(run_id, cpu_energy=-1.0)
    )
    assert negative.status_code == 400
    assert "cpu_energy_kwh" in negative.json()["fields"]
    future = datetime.now(UTC) + timedelta(hours=2)
    late = cc(client, "post", "/emissions", cast.ingest_key, emission_body(run_id, future))
    # Named as CodeCarbon names it (the interval's end is its timestamp).
    assert late.status_code == 400 and "future" in late.json()["fields"]["timestamp"]
    nan = cc(client, "post", "/emissions", cast.ingest_key, emission_body(run_id, duration="x"))
    assert nan.status_code == 400 and "duration" in nan.json()["fields"]
    assert Measurement.objects.count() == 0


def test_another_projects_run_is_not_found(cast: Cast, client: Client) -> None:
    r = cc(client, "post", "/runs", cast.other_ingest_key, run_body())
    foreign_run = r.json()["id"]
    r = cc(client, "post", "/emissions", cast.ingest_key, emission_body(foreign_run))
    assert r.status_code == 404
    assert Measurement.objects.count() == 0


def test_the_cli_sees_the_keys_organisation_and_project(cast: Cast, client: Client) -> None:
    orgs = cc(client, "get", "/organizations", cast.ingest_key).json()
    assert orgs == [{"id": str(cast.org.uuid), "name": "Acme AI", "description": ""}]
    projects = cc(client, "get", f"/organizations/{cast.org.uuid}/projects", cast.ingest_key).json()
    assert [p["id"] for p in projects] == [str(cast.project.uuid)]
    assert (
        cc(
            client, "get", f"/organizations/{cast.other_org.uuid}/projects", cast.ingest_key
        ).status_code
        == 404
    )
    same = cc(
        client, "post", "/organizations", cast.ingest_key, {"name": "Acme AI", "description": ""}
    )
    assert same.status_code == 201
    refused = cc(
        client, "post", "/organizations", cast.ingest_key, {"name": "New Org", "description": ""}
    )
    assert refused.status_code == 403 and "cannot create organisations" in refused.json()["message"]
    project = cc(
        client,
        "post",
        "/projects",
        cast.ingest_key,
        {"name": "other", "description": "", "organization_id": "x"},
    )
    assert project.status_code == 403 and "cannot create projects" in project.json()["message"]
    tokens = cc(
        client, "post", f"/projects/{cast.project.uuid}/api-tokens", cast.ingest_key, {"name": "t"}
    )
    assert tokens.status_code == 403 and "cannot create API keys" in tokens.json()["message"]


def test_the_cli_creates_an_experiment_with_its_location(cast: Cast, client: Client) -> None:
    body = {
        "timestamp": datetime.now(UTC).isoformat(),
        "name": "llm-eval",
        "description": "evaluation sweep",
        "on_cloud": True,
        "project_id": str(cast.project.uuid),
        "country_name": "United States",
        "country_iso_code": "USA",
        "region": "virginia",
        "cloud_provider": "aws",
        "cloud_region": "us-east-1",
    }
    r = cc(client, "post", "/experiments", cast.ingest_key, body)
    assert r.status_code == 201, r.content
    exp = Experiment.objects.get(uuid=r.json()["id"])
    assert (exp.name, exp.country, exp.cloud_provider, exp.cloud_region) == (
        "llm-eval",
        "USA",
        "aws",
        "us-east-1",
    )
    listed = cc(client, "get", f"/projects/{cast.project.uuid}/experiments", cast.ingest_key).json()
    assert str(exp.uuid) in [e["id"] for e in listed]
    run = Run.objects.get(uuid=new_run(client, cast, experiment_id=str(exp.uuid)))
    assert run.experiment == exp and run.cloud_region == "us-east-1"
    foreign = cc(
        client,
        "post",
        "/experiments",
        cast.ingest_key,
        {**body, "project_id": str(cast.other_project.uuid)},
    )
    assert foreign.status_code == 403


@pytest.mark.parametrize(
    ("field", "raw"),
    [("duration", 10**20), ("duration", 1e11), ("cpu_power", 10**400), ("cpu_energy", -1)],
)
def test_impossible_numbers_get_a_400_and_store_nothing(
    cast: Cast, client: Client, field: str, raw: Any
) -> None:
    run_id = new_run(client, cast)
    body = json.dumps(emission_body(run_id)).replace(
        f'"{field}": ', f'"{field}": {raw}, "_was": ', 1
    )
    r = client.post(
        BASE + "/emissions",
        data=body,
        content_type="application/json",
        HTTP_X_API_TOKEN=cast.ingest_key,
    )
    assert r.status_code == 400, r.content
    assert field in json.dumps(r.json())
    assert Measurement.objects.count() == 0


def test_the_same_interval_spelt_differently_counts_once(cast: Cast, client: Client) -> None:
    run_id = new_run(client, cast)
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    first = emission_body(run_id, end=end)
    second = emission_body(run_id, end=end, duration=120.0)
    second["timestamp"] = end.isoformat().replace("+00:00", "Z")
    for body in (first, second):
        assert cc(client, "post", "/emissions", cast.ingest_key, body).status_code == 201
    assert Measurement.objects.count() == 1
