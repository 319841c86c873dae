"""The one lookup by public id (``api.access``): a malformed id, a missing one and another
organisation's answer the same 404, in the API, the pages and the reports."""

from __future__ import annotations

import uuid

import pytest
from django.http import Http404
from django.test import Client

from api.access import get_or_404, public_id
from api.models import Membership, Organisation, Project
from tests.cast import Cast


def test_get_or_404_finds_only_among_the_queryset(cast: Cast) -> None:
    owner = cast.users["owner"]
    mine = Project.objects.for_user(owner)
    assert get_or_404(mine, str(cast.project.uuid)) == cast.project
    assert get_or_404(mine, cast.project.uuid) == cast.project
    for value in (str(cast.other_project.uuid), str(uuid.uuid4()), "not-a-uuid", "", None):
        with pytest.raises(Http404):
            get_or_404(mine, value)


def test_get_or_404_by_another_field(cast: Cast) -> None:
    memberships = Membership.objects.filter(user=cast.users["viewer"])
    m = get_or_404(memberships, str(cast.org.uuid), field="organisation__uuid")
    assert m.organisation == cast.org
    with pytest.raises(Http404, match="none of yours"):
        get_or_404(
            memberships, cast.other_org.uuid, field="organisation__uuid", message="none of yours"
        )


def test_public_id_accepts_any_spelling_of_a_uuid_and_refuses_the_rest() -> None:
    u = uuid.uuid4()
    assert public_id(u) is u
    assert public_id(str(u).upper()) == u
    with pytest.raises(Http404):
        public_id("12345")


def test_an_anonymous_user_sees_no_organisation(cast: Cast) -> None:
    from django.contrib.auth.models import AnonymousUser

    assert not Organisation.objects.for_user(AnonymousUser()).exists()
    assert list(Organisation.objects.for_user(cast.users["member"])) == [cast.org]


@pytest.mark.parametrize("bad", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_every_surface_answers_404_for_a_bad_or_missing_id(cast: Cast, bad: str) -> None:
    machine = Client()  # authenticated by its key
    for path in (
        f"/api/v1/runs/{bad}",
        f"/api/v1/projects/{bad}",
        f"/api/v1/organisations/{bad}",
        f"/api/v1/experiments/{bad}",
    ):
        assert (
            machine.get(path, HTTP_AUTHORIZATION=f"Bearer {cast.ingest_key}").status_code == 404
        ), path
    assert (
        machine.get(
            f"/api/codecarbon/experiments/{bad}", HTTP_X_API_TOKEN=cast.ingest_key
        ).status_code
        == 404
    )
    member = cast.client_for("member")
    org = cast.org.uuid
    for path in (
        f"/o/{bad}/",
        f"/o/{org}/projects/{bad}/",
        f"/o/{org}/experiments/{bad}/",
        f"/o/{org}/runs/{bad}/",
        f"/runs/{bad}/",
        f"/reports/{bad}/",
        f"/reports/?org={bad}",
    ):
        assert member.get(path).status_code == 404, path
