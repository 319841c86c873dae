"""Who may open and do what: every page and action against every role."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from api.models import ApiKey
from tests.cast import Cast
from tests.dashboards.dash_data import Usage


def read_pages(cast: Cast, usage: Usage) -> list[str]:
    org, run = cast.org.uuid, usage.runs["big"]
    return [
        f"/o/{org}/",
        f"/o/{org}/projects/{cast.project.uuid}/",
        f"/o/{org}/experiments/{run.experiment.uuid}/",
        f"/o/{org}/runs/{run.uuid}/",
        f"/o/{org}/runs/{run.uuid}/live.json",
        f"/o/{org}/settings/",
        f"/o/{org}/projects/{cast.project.uuid}/settings/",
    ]


def actions(cast: Cast) -> list[tuple[str, dict[str, Any]]]:
    org, project = cast.org.uuid, cast.project.uuid
    key = ApiKey.objects.filter(project=cast.project).first()
    assert key is not None
    return [
        (f"/o/{org}/projects/new", {"name": "new-project", "hosting": "cloud"}),
        (f"/o/{org}/projects/{project}/settings/", {"name": "vision", "hosting": "owned"}),
        (f"/o/{org}/projects/{project}/keys/new", {"name": "k", "scope": "ingest"}),
        (f"/o/{org}/keys/{key.uuid}/revoke", {}),
        (f"/o/{org}/projects/{project}/public", {"action": "enable"}),
        (f"/o/{org}/members/add", {"user": "owner@globex.test", "role": "viewer"}),
        (f"/o/{org}/members/change", {"user": "viewer@acme.test", "role": "member"}),
    ]


def test_anonymous_visitors_are_sent_to_sign_in(cast: Cast, usage: Usage) -> None:
    client = Client()
    for url in read_pages(cast, usage):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next=")
    for url, body in actions(cast):
        assert client.post(url, body).status_code == 302


@pytest.mark.parametrize("role", ["owner", "admin", "member", "viewer"])
def test_every_member_reads_every_page(cast: Cast, usage: Usage, role: str) -> None:
    client = cast.client_for(role)
    for url in read_pages(cast, usage):
        assert client.get(url).status_code == 200, url


def test_another_organisation_sees_nothing_of_ours(cast: Cast, usage: Usage) -> None:
    client = Client()
    client.force_login(cast.outsider)
    for url in read_pages(cast, usage):
        assert client.get(url).status_code == 404, url
    for url, body in actions(cast):
        assert client.post(url, body).status_code == 404, url
    # Nor can our pages be reached by putting their ids under their own organisation.
    theirs = cast.other_org.uuid
    assert client.get(f"/o/{theirs}/projects/{cast.project.uuid}/").status_code == 404
    assert client.get(f"/o/{theirs}/runs/{usage.runs['big'].uuid}/").status_code == 404
    assert client.get(f"/runs/{usage.runs['big'].uuid}/").status_code == 404


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_change_nothing(cast: Cast, usage: Usage, role: str) -> None:
    client = cast.client_for(role)
    for url, body in actions(cast):
        assert client.post(url, body).status_code == 403, url
    page = client.get(f"/o/{cast.org.uuid}/projects/{cast.project.uuid}/settings/").content
    assert b"Create key" not in page and b"Revoke" not in page
    assert b"Add member" not in client.get(f"/o/{cast.org.uuid}/settings/").content


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_may_act(cast: Cast, usage: Usage, role: str) -> None:
    client = cast.client_for(role)
    for url, body in actions(cast):
        assert client.post(url, body).status_code in (201, 302), url


def test_malformed_ids_are_404(cast: Cast) -> None:
    client = cast.client_for("owner")
    assert client.get("/o/not-a-uuid/").status_code == 404
    assert client.get(f"/o/{cast.org.uuid}/runs/123/").status_code == 404


def test_pages_refuse_other_methods(cast: Cast, usage: Usage) -> None:
    client = cast.client_for("owner")
    assert client.post(f"/o/{cast.org.uuid}/").status_code == 405
    assert client.get(f"/o/{cast.org.uuid}/members/add").status_code == 405
