"""Management: projects, keys, the public link and members."""

from __future__ import annotations

from django.test import Client

from api.models import ApiKey, Membership, Project
from tests.cast import Cast, api


def settings_url(cast: Cast) -> str:
    return f"/o/{cast.org.uuid}/projects/{cast.project.uuid}/settings/"


def test_an_admin_creates_a_project_with_a_cloud_location(cast: Cast) -> None:
    client = cast.client_for("admin")
    response = client.post(
        f"/o/{cast.org.uuid}/projects/new",
        {
            "name": "llm",
            "hosting": "cloud",
            "cloud_provider": "Google Cloud",
            "cloud_region": "europe-west1",
        },
    )
    assert response.status_code == 302
    project = Project.objects.get(organisation=cast.org, name="llm")
    assert (project.cloud_provider, project.cloud_region) == ("gcp", "europe-west1")
    assert response["Location"] == f"/o/{cast.org.uuid}/projects/{project.uuid}/settings/"


def test_a_wrong_location_or_pue_is_refused_with_a_reason(cast: Cast) -> None:
    client = cast.client_for("admin")
    url = f"/o/{cast.org.uuid}/projects/new"
    bad_region = client.post(
        url,
        {"name": "x", "hosting": "cloud", "cloud_provider": "aws", "cloud_region": "eu-west-33"},
    )
    assert bad_region.status_code == 400
    assert b"Unknown aws region" in bad_region.content
    bad_country = client.post(url, {"name": "x", "hosting": "owned", "country": "XX"})
    assert bad_country.status_code == 400
    bad_pue = client.post(url, {"name": "x", "hosting": "owned", "pue": "7"})
    assert b"A PUE is between 1 and 3" in bad_pue.content
    clash = client.post(url, {"name": "vision", "hosting": "owned"})
    assert b"already has a project of that name" in clash.content
    assert not Project.objects.filter(name="x").exists()


def test_editing_a_project_keeps_canonical_codes(cast: Cast) -> None:
    client = cast.client_for("owner")
    response = client.post(
        settings_url(cast), {"name": "vision", "hosting": "owned", "country": "de", "pue": "1.4"}
    )
    assert response.status_code == 302
    cast.project.refresh_from_db()
    assert (cast.project.country, cast.project.pue, cast.project.hosting) == ("DEU", 1.4, "owned")


def test_a_new_key_is_shown_once_and_works(cast: Cast) -> None:
    client = cast.client_for("admin")
    response = client.post(
        f"/o/{cast.org.uuid}/projects/{cast.project.uuid}/keys/new",
        {"name": "cluster", "scope": "ingest"},
    )
    assert response.status_code == 201
    plain = response.context["new_key_plain"]
    assert plain.startswith("ehi_") and plain.encode() in response.content
    assert response["Cache-Control"] == "no-store"
    assert plain.encode() not in client.get(settings_url(cast)).content
    key = ApiKey.objects.get(name="cluster")
    assert key.created_by == cast.users["admin"]
    assert api(Client(), "get", "/api/v1/projects", plain).status_code == 200


def test_a_revoked_key_stops_working(cast: Cast) -> None:
    key = ApiKey.objects.get(project=cast.project, scope="ingest")
    assert api(Client(), "get", "/api/v1/projects", cast.ingest_key).status_code == 200
    response = cast.client_for("admin").post(f"/o/{cast.org.uuid}/keys/{key.uuid}/revoke")
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api(Client(), "get", "/api/v1/projects", cast.ingest_key).status_code == 401


def test_keys_show_when_they_were_last_used(cast: Cast) -> None:
    api(Client(), "get", "/api/v1/projects", cast.read_key)
    html = cast.client_for("viewer").get(settings_url(cast)).content.decode()
    assert html.count("never") == 1  # the ingest key only


def test_another_organisations_key_cannot_be_revoked(cast: Cast) -> None:
    theirs = ApiKey.objects.get(project=cast.other_project, scope="ingest")
    response = cast.client_for("owner").post(f"/o/{cast.org.uuid}/keys/{theirs.uuid}/revoke")
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.is_active


def test_the_public_link_is_enabled_and_disabled(cast: Cast) -> None:
    client = cast.client_for("admin")
    url = f"/o/{cast.org.uuid}/projects/{cast.project.uuid}/public"
    client.post(url, {"action": "enable"})
    cast.project.refresh_from_db()
    token = cast.project.public_token
    assert token and len(token) == 43
    assert Client().get(f"/p/{token}/").status_code == 200
    client.post(url, {"action": "disable"})
    cast.project.refresh_from_db()
    assert cast.project.public_token is None
    assert Client().get(f"/p/{token}/").status_code == 404


def test_an_admin_adds_a_member_by_username_or_email(cast: Cast) -> None:
    cast.outsider.email = "someone@globex.test"
    cast.outsider.save()
    client = cast.client_for("admin")
    response = client.post(
        f"/o/{cast.org.uuid}/members/add", {"user": "SOMEONE@globex.test", "role": "viewer"}
    )
    assert response.status_code == 302
    assert Membership.objects.get(user=cast.outsider, organisation=cast.org).role == "viewer"


def test_adding_an_unknown_user_says_why(cast: Cast) -> None:
    response = cast.client_for("admin").post(
        f"/o/{cast.org.uuid}/members/add", {"user": "ghost", "role": "viewer"}
    )
    assert response.status_code == 400
    assert b"must have an account first" in response.content


def test_only_owners_touch_the_owner_role(cast: Cast) -> None:
    admin = cast.client_for("admin")
    change = f"/o/{cast.org.uuid}/members/change"
    assert admin.post(change, {"user": "viewer@acme.test", "role": "owner"}).status_code == 403
    assert admin.post(change, {"user": "owner@acme.test", "role": "viewer"}).status_code == 403
    assert admin.post(change, {"user": "owner@acme.test", "action": "remove"}).status_code == 403
    assert admin.post(change, {"user": "viewer@acme.test", "role": "member"}).status_code == 302
    assert Membership.objects.get(user=cast.users["viewer"]).role == "member"
    owner = cast.client_for("owner")
    assert owner.post(change, {"user": "admin@acme.test", "role": "owner"}).status_code == 302


def test_the_last_owner_stays(cast: Cast) -> None:
    owner = cast.client_for("owner")
    change = f"/o/{cast.org.uuid}/members/change"
    assert owner.post(change, {"user": "owner@acme.test", "role": "admin"}).status_code == 403
    assert owner.post(change, {"user": "owner@acme.test", "action": "remove"}).status_code == 403


def test_an_admin_removes_a_member(cast: Cast) -> None:
    response = cast.client_for("admin").post(
        f"/o/{cast.org.uuid}/members/change", {"user": "member@acme.test", "action": "remove"}
    )
    assert response.status_code == 302
    assert not Membership.objects.filter(user=cast.users["member"], organisation=cast.org).exists()
    assert cast.client_for("member").get(f"/o/{cast.org.uuid}/").status_code == 404


def test_the_settings_page_lists_datasets_and_factors_in_use(cast: Cast) -> None:
    from tests.dashboards.dash_data import make_run

    run = make_run(cast.project, "r")
    html = cast.client_for("viewer").get(f"/o/{cast.org.uuid}/settings/").content.decode()
    assert run.factor.dataset_version in html
    assert f"<td>{run.factor.zone}" in html
    assert "current" in html
