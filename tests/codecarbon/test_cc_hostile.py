"""Hostile values on the CodeCarbon-compatible endpoints: each is a clear 400 that stores
nothing, never a 500 and never a silent conversion (issue 12)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from api.models import Experiment, Measurement, Run
from tests.cast import Cast, api
from tests.codecarbon.test_cc_endpoints import BASE, cc, emission_body, new_run, run_body

OUTSIDE = [
    ("0001-01-01T00:00:00Z", "is before the year 2000"),
    # Year 0 in UTC: Python cannot even convert it.
    ("0001-01-01T00:30:00+01:00", "is before the year 2000"),
    ("1999-12-31T23:00:00Z", "is before the year 2000"),
    ("9999-12-31T23:59:59Z", "is in the future"),
    # Year 10000 in UTC.
    ("9999-12-31T23:59:59-01:00", "is in the future"),
]


def refused(r: Any, field: str, message: str) -> None:
    assert r.status_code == 400, r.content
    body = r.json()
    assert body["error"] == "invalid"
    assert message in body["fields"][field], body


def pages_answer(cast: Cast, client: Client) -> None:
    """The run list, each run's answer and page, and the statement page still render."""
    viewer = cast.client_for("viewer")
    assert api(client, "get", "/api/v1/runs", cast.read_key).status_code == 200
    for run in Run.objects.all():
        assert api(client, "get", f"/api/v1/runs/{run.uuid}", cast.read_key).status_code == 200
        assert viewer.get(f"/o/{cast.org.uuid}/runs/{run.uuid}/").status_code == 200


@pytest.mark.parametrize(("timestamp", "message"), OUTSIDE)
def test_a_run_dated_outside_the_hubs_range_is_refused(
    cast: Cast, client: Client, timestamp: str, message: str
) -> None:
    r = cc(client, "post", "/runs", cast.ingest_key, run_body(timestamp=timestamp))
    refused(r, "timestamp", message)
    assert Run.objects.count() == 0
    pages_answer(cast, client)


@pytest.mark.parametrize(("timestamp", "message"), OUTSIDE)
def test_an_interval_dated_outside_the_hubs_range_is_refused(
    cast: Cast, client: Client, timestamp: str, message: str
) -> None:
    run_id = new_run(client, cast)
    r = cc(
        client, "post", "/emissions", cast.ingest_key, emission_body(run_id, timestamp=timestamp)
    )
    refused(r, "timestamp", message)
    assert Measurement.objects.count() == 0
    pages_answer(cast, client)


def test_an_interval_lasts_at_most_a_day(cast: Cast, client: Client) -> None:
    run_id = new_run(client, cast)
    end = datetime.now(UTC) - timedelta(minutes=5)
    long = emission_body(run_id, end, duration=2 * 86400)
    refused(cc(client, "post", "/emissions", cast.ingest_key, long), "duration", "at most 86400")
    assert Measurement.objects.count() == 0
    day = emission_body(run_id, end, duration=86400)
    assert cc(client, "post", "/emissions", cast.ingest_key, day).status_code == 201


@pytest.mark.parametrize(
    ("over", "field", "message"),
    [
        ({"os": ["Linux"]}, "os", "must be a string"),
        ({"cpu_model": 7763}, "cpu_model", "must be a string"),
        ({"codecarbon_version": 3.3}, "codecarbon_version", "must be a string"),
        ({"provider": ["aws"], "region": "eu-west-3"}, "provider", "must be a string"),
        ({"experiment_id": ["x"]}, "experiment_id", "must be a string"),
        ({"longitude": True}, "longitude", "must be a number"),
        ({"latitude": "48.8"}, "latitude", "must be a number"),
        ({"latitude": 480.0}, "latitude", "must be at most 90"),
        ({"cpu_count": True}, "cpu_count", "must be a number"),
    ],
)
def test_a_run_field_of_the_wrong_type_is_refused(
    cast: Cast, client: Client, over: dict[str, Any], field: str, message: str
) -> None:
    refused(cc(client, "post", "/runs", cast.ingest_key, run_body(**over)), field, message)
    assert Run.objects.count() == 0


def test_a_run_position_is_kept_as_sent(cast: Cast, client: Client) -> None:
    run_id = new_run(client, cast, longitude=2.35, latitude=-48.85)
    params = Run.objects.get(uuid=run_id).params
    assert (params["longitude"], params["latitude"]) == (2.35, -48.85)
    body = json.dumps(run_body()).replace('"longitude": null', '"longitude": ' + "9" * 400)
    r = client.post(
        BASE + "/runs", data=body, content_type="application/json", HTTP_X_API_TOKEN=cast.ingest_key
    )
    refused(r, "longitude", "must be a finite number")
    assert Run.objects.count() == 1


@pytest.mark.parametrize("path", ["/runs", "/experiments"])
@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ({"name": "form", "os": "Linux"}, None),  # the test client's multipart form
        ("name=form&os=Linux", "application/x-www-form-urlencoded"),
        ("name: form", "text/plain"),
        ("", "application/json"),
        ("[]", "application/json"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(
    cast: Cast, client: Client, path: str, data: Any, content_type: str | None
) -> None:
    extra = {"content_type": content_type} if content_type else {}
    r = client.post(BASE + path, data=data, HTTP_X_API_TOKEN=cast.ingest_key, **extra)
    assert r.status_code == 400, r.content
    assert r.json() == {
        "error": "invalid",
        "message": "The body must be a JSON object (Content-Type: application/json).",
    }
    assert Run.objects.count() == 0
    assert not Experiment.objects.filter(name="form").exists()


@pytest.mark.parametrize(
    ("over", "field", "message"),
    [
        ({"name": ["resnet"]}, "name", "must be a string"),
        ({"name": "resnet", "description": 5}, "description", "must be a string"),
        ({"name": "resnet", "on_cloud": "yes"}, "on_cloud", "must be true or false"),
        ({"name": "resnet", "country_iso_code": 250}, "country_iso_code", "must be a string"),
    ],
)
def test_an_experiment_field_of_the_wrong_type_is_refused(
    cast: Cast, client: Client, over: dict[str, Any], field: str, message: str
) -> None:
    r = cc(client, "post", "/experiments", cast.ingest_key, over)
    refused(r, field, message)
    assert not Experiment.objects.filter(name__in=["resnet", "['resnet']"]).exists()
