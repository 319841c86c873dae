"""Tenant isolation on every endpoint: two organisations, every role and key scope.

Another organisation's object answers 404 exactly like a missing one; a read key used to
write answers 403; no or a wrong key answers 401.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from api.models import ApiKey, Run
from tests.cast import Cast, api, measurement

READERS = ["ingest_key", "read_key", "owner", "admin", "member", "viewer"]


def seed(client: Client, cast: Cast) -> dict[str, dict[str, str]]:
    out = {}
    for name, key, project in (
        ("own", cast.ingest_key, cast.project),
        ("other", cast.other_ingest_key, cast.other_project),
    ):
        run = api(
            client,
            "post",
            "/api/v1/runs",
            key,
            {"run_key": f"{name}-run", "experiment": f"{name}-exp"},
        ).json()
        api(
            client,
            "post",
            f"/api/v1/runs/{run['id']}/measurements",
            key,
            {"measurements": [measurement()]},
        )
        out[name] = {
            "run": run["id"],
            "experiment": run["experiment_id"],
            "project": str(project.uuid),
            "org": str(project.organisation.uuid),
        }
    return out


def read_paths(ids: dict[str, str]) -> list[str]:
    return [
        f"/api/v1/runs/{ids['run']}",
        f"/api/v1/runs/{ids['run']}/series",
        f"/api/v1/projects/{ids['project']}",
        f"/api/v1/projects/{ids['project']}/summary",
        f"/api/v1/projects/{ids['project']}/series?bucket=hour",
        f"/api/v1/organisations/{ids['org']}",
        f"/api/v1/organisations/{ids['org']}/series?bucket=week",
        f"/api/v1/experiments/{ids['experiment']}",
    ]


def call(cast: Cast, who: str, method: str, path: str, body: Any = None) -> Any:
    if who.endswith("_key"):
        return api(Client(), method, path, getattr(cast, who), body)
    if who == "anonymous":
        return api(Client(), method, path, None, body)
    if who == "outsider":
        c = Client()
        c.force_login(cast.outsider)
        return api(c, method, path, None, body)
    return api(cast.client_for(who), method, path, None, body)


@pytest.mark.parametrize("who", READERS)
def test_members_and_keys_read_their_own_organisation(cast: Cast, client: Client, who: str) -> None:
    ids = seed(client, cast)["own"]
    for path in read_paths(ids):
        r = call(cast, who, "get", path)
        assert r.status_code == 200, (who, path, r.content)


@pytest.mark.parametrize("who", [*READERS])
def test_another_organisations_objects_answer_404(cast: Cast, client: Client, who: str) -> None:
    ids = seed(client, cast)["other"]
    for path in read_paths(ids):
        r = call(cast, who, "get", path)
        assert r.status_code == 404, (who, path, r.status_code)
        assert r.json()["error"] == "not_found"
        assert "secret-llm" not in r.content.decode()


def test_a_missing_object_and_a_foreign_one_look_the_same(cast: Cast, client: Client) -> None:
    ids = seed(client, cast)["other"]
    foreign = call(cast, "read_key", "get", f"/api/v1/runs/{ids['run']}")
    missing = call(cast, "read_key", "get", f"/api/v1/runs/{uuid.uuid4()}")
    assert (foreign.status_code, foreign.json()) == (missing.status_code, missing.json())


@pytest.mark.parametrize("who", [*READERS, "outsider"])
def test_lists_show_only_visible_objects(cast: Cast, client: Client, who: str) -> None:
    seed(client, cast)
    own_side = who != "outsider"
    runs = call(cast, who, "get", "/api/v1/runs").json()["results"]
    projects = call(cast, who, "get", "/api/v1/projects").json()["results"]
    orgs = call(cast, who, "get", "/api/v1/organisations").json()["results"]
    exps = call(cast, who, "get", "/api/v1/experiments").json()["results"]
    assert {r["run_key"] for r in runs} == ({"own-run"} if own_side else {"other-run"})
    assert {p["name"] for p in projects} == ({"vision"} if own_side else {"secret-llm"})
    assert {o["name"] for o in orgs} == ({"Acme AI"} if own_side else {"Globex Research"})
    assert {e["name"] for e in exps} == ({"own-exp"} if own_side else {"other-exp"})


@pytest.mark.parametrize("who", ["anonymous", "bad_key", "revoked_key"])
def test_no_wrong_or_revoked_key_is_401_everywhere(cast: Cast, client: Client, who: str) -> None:
    ids = seed(client, cast)["own"]
    if who == "bad_key":
        cast.extra["bad"] = "ehi_" + "x" * 40
    if who == "revoked_key":
        key, plain = ApiKey.issue(cast.project, "ingest")
        key.revoke()
        cast.extra["bad"] = plain
    paths = [
        *read_paths(ids),
        "/api/v1/runs",
        "/api/v1/projects",
        "/api/v1/organisations",
        "/api/v1/experiments",
    ]
    for path in paths:
        r = api(Client(), "get", path, cast.extra.get("bad"))
        assert r.status_code == 401, (who, path)
        assert r.json()["error"] == "unauthorised"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = api(Client(), "post", "/api/v1/runs", cast.extra.get("bad"), {"run_key": "x"})
    assert r.status_code == 401


def write_calls(ids: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("/api/v1/runs", {"run_key": "w"}),
        (f"/api/v1/runs/{ids['run']}/measurements", {"measurements": [measurement()]}),
        (f"/api/v1/runs/{ids['run']}/finish", {"status": "finished"}),
        (
            f"/api/v1/runs/{ids['run']}/prediction",
            {"epochs_done": 1, "epochs_total": 2, "predicted_energy_kwh": 1},
        ),
        ("/api/v1/experiments", {"name": "w"}),
    ]


@pytest.mark.parametrize("who", ["read_key", "owner", "admin", "member", "viewer", "outsider"])
def test_writes_need_an_ingest_key(cast: Cast, client: Client, who: str) -> None:
    ids = seed(client, cast)["own"]
    before = Run.objects.get(run_key="own-run").measurement_count
    for path, body in write_calls(ids):
        r = call(cast, who, "post", path, body)
        assert r.status_code == 403, (who, path, r.status_code)
        assert r.json()["error"] == "forbidden"
    assert Run.objects.get(run_key="own-run").measurement_count == before
    assert not Run.objects.filter(run_key="w").exists()


def test_an_ingest_key_cannot_write_to_another_organisations_run(
    cast: Cast, client: Client
) -> None:
    ids = seed(client, cast)["other"]
    before = Run.objects.get(run_key="other-run").measurement_count
    for path, body in write_calls(ids)[1:4]:
        r = call(cast, "ingest_key", "post", path, body)
        assert r.status_code == 404, path
    assert Run.objects.get(run_key="other-run").measurement_count == before
    assert Run.objects.get(run_key="other-run").status == "running"


def test_an_ingest_key_reads_only_its_project_within_its_organisation(
    cast: Cast, client: Client
) -> None:
    from api.models import Project

    sibling = Project.objects.create(organisation=cast.org, name="sibling")
    _, sibling_key = ApiKey.issue(sibling, "ingest")
    run = api(client, "post", "/api/v1/runs", sibling_key, {"run_key": "sib"}).json()
    api(
        client,
        "post",
        f"/api/v1/runs/{run['id']}/measurements",
        sibling_key,
        {"measurements": [measurement(gpu_kwh=5.0, duration_s=3600)]},
    )
    r = call(cast, "read_key", "get", f"/api/v1/runs/{run['id']}")
    assert r.status_code == 404
    org = call(cast, "read_key", "get", f"/api/v1/organisations/{cast.org.uuid}").json()
    assert org["energy_kwh"] == 0.0
    viewer = call(cast, "viewer", "get", f"/api/v1/organisations/{cast.org.uuid}").json()
    assert viewer["energy_kwh"] > 5.0


def test_the_same_measurement_uuid_in_two_organisations_is_stored_in_each(
    cast: Cast, client: Client
) -> None:
    # Ids are unique per run: another tenant's id neither blocks nor reveals anything.
    item = measurement()
    counts = []
    for key in (cast.ingest_key, cast.other_ingest_key):
        run = api(client, "post", "/api/v1/runs", key, {"run_key": "same"}).json()
        r = api(
            client, "post", f"/api/v1/runs/{run['id']}/measurements", key, {"measurements": [item]}
        )
        counts.append((r.json()["accepted"], r.json()["duplicates"]))
    assert counts == [(1, 0), (1, 0)]
