"""Hour accounting and run times.

A measurement that crosses hour boundaries is split across the UTC hours it overlaps in
proportion to time, for every additive quantity; it is counted (``measurement_count``)
in the hour where it starts. Rebuilding a project's aggregates gives the rows ingestion
wrote. A run starts and ends with its measurements.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from api import aggregates, ingest, schema
from api.models import USAGE_FIELDS, Run, UsageHour
from tests.api.test_api_series import BASE, PROPERTY, Interval, layouts
from tests.cast import Cast, api, measurement

RUN = {"run_key": "job-1", "experiment": "bert", "country": "FRA", "pue": 1.2}


def post(client: Client, cast: Cast, run_id: str, items: list[dict[str, Any]]) -> Any:
    r = api(
        client,
        "post",
        f"/api/v1/runs/{run_id}/measurements",
        cast.ingest_key,
        {"measurements": items},
    )
    assert r.status_code in (200, 201), r.content
    return r.json()


def create(client: Client, cast: Cast, **over: Any) -> dict[str, Any]:
    r = api(client, "post", "/api/v1/runs", cast.ingest_key, {**RUN, **over})
    assert r.status_code in (200, 201), r.content
    return dict(r.json())


def rows(project_pk: int) -> dict[tuple[Any, ...], dict[str, Any]]:
    """A project's UsageHour rows by their key."""
    out = {}
    for h in UsageHour.objects.filter(project_id=project_pk):
        key = (h.hour, h.zone, h.cloud_provider, h.cloud_region, h.factor_id, h.pue)
        out[key] = {f: getattr(h, f) for f in (*USAGE_FIELDS, "location_known")}
    return out


# --- hours ----------------------------------------------------------------------------


def test_a_measurement_across_hours_is_split_in_proportion_to_time(
    cast: Cast, client: Client
) -> None:
    # 10:45 to 12:15, 2 GPUs: a sixth, two thirds and a sixth of the interval per hour.
    run = create(client, cast)
    start = BASE + timedelta(hours=10, minutes=45)
    post(
        client,
        cast,
        run["id"],
        [
            measurement(
                start=start,
                duration_s=5400,
                cpu_kwh=0.6,
                gpu_kwh=1.2,
                ram_kwh=0.06,
                gpu_count=2,
                ram_method="imported",
            )
        ],
    )
    hours = list(UsageHour.objects.order_by("hour"))
    assert [h.hour.hour for h in hours] == [10, 11, 12]
    g_per_kwh = Run.objects.get(uuid=run["id"]).factor.g_per_kwh  # France's
    shares = [1 / 6, 2 / 3, 1 / 6]
    for h, share in zip(hours, shares, strict=True):
        assert h.energy_kwh == pytest.approx(1.86 * share)
        assert h.cpu_energy_kwh == pytest.approx(0.6 * share)
        assert h.gpu_energy_kwh == pytest.approx(1.2 * share)
        assert h.ram_energy_kwh == pytest.approx(0.06 * share)
        assert h.measured_energy_kwh == pytest.approx(1.8 * share)  # rapl + nvml
        assert h.imported_energy_kwh == pytest.approx(0.06 * share)
        assert h.facility_energy_kwh == pytest.approx(1.86 * 1.2 * share)
        assert h.emissions_kg == pytest.approx(1.86 * 1.2 * g_per_kwh / 1000 * share)
        assert h.gpu_hours == pytest.approx(3.0 * share)  # 2 GPUs x 1.5 h
        assert h.duration_s == pytest.approx(5400 * share)
    # A count stays a whole number: the interval counts once, in the hour it starts.
    assert [h.measurement_count for h in hours] == [1, 0, 0]
    summary = api(
        client,
        "get",
        f"/api/v1/projects/{cast.project.uuid}/summary"
        "?start=2025-06-02T11:00:00Z&end=2025-06-02T12:00:00Z",
        cast.read_key,
    ).json()
    assert summary["energy_kwh"] == pytest.approx(1.24)


def test_an_interval_ending_on_the_hour_stays_in_its_hour(cast: Cast, client: Client) -> None:
    run = create(client, cast)
    post(client, cast, run["id"], [measurement(start=BASE, duration_s=3600)])
    assert UsageHour.objects.count() == 1
    # An interval of zero length lies wholly in its start hour.
    zero = measurement(start=BASE + timedelta(minutes=30), duration_s=0, cpu_kwh=0, gpu_kwh=0)
    zero["ram_energy_kwh"] = 0.0
    post(client, cast, run["id"], [zero])
    assert list(UsageHour.objects.values_list("hour", "measurement_count")) == [(BASE, 2)]


def test_hour_shares_do_not_depend_on_the_time_zone_given(cast: Cast, client: Client) -> None:
    paris = timezone(timedelta(hours=2))
    start = datetime(2025, 6, 2, 12, 30, tzinfo=UTC)
    for n, tz in enumerate([paris, UTC]):
        run = create(client, cast, run_key=f"tz-{n}")
        item = measurement(start=start, duration_s=5400, cpu_kwh=0.0, gpu_kwh=0.9, ram_kwh=0.0)
        item["start"] = start.astimezone(tz).isoformat()
        item["end"] = (start + timedelta(minutes=90)).astimezone(tz).isoformat()
        post(client, cast, run["id"], [item])
    hours = UsageHour.objects.order_by("hour")
    assert [h.hour.hour for h in hours] == [12, 13]
    assert [h.gpu_energy_kwh for h in hours] == pytest.approx([0.6, 1.2])


@PROPERTY
@given(layout=layouts(), cuts=st.lists(st.integers(0, 20), min_size=1, max_size=3))
def test_rebuilding_a_project_gives_the_rows_ingestion_wrote(
    cast: Cast, layout: list[Interval], cuts: list[int]
) -> None:
    with transaction.atomic():
        # Two runs in different places (another zone, PUE and factor), posted in batches.
        where = [{"country": "FRA", "pue": 1.2}, {"country": "DEU", "pue": 1.4}]
        runs = [
            ingest.get_or_create_run(cast.project, {"run_key": f"r-{uuid.uuid4()}", **w})[0]
            for w in where
        ]
        items = [iv.item(seq) for seq, iv in enumerate(layout)]
        bounds = sorted({0, len(items), *(min(c, len(items)) for c in cuts)})
        for n, (lo, hi) in enumerate(itertools.pairwise(bounds)):
            batch = schema.measurements(items[lo:hi])
            ingest.ingest_measurements(runs[n % 2], batch)
        before = rows(cast.project.pk)
        totals_before = list(Run.objects.filter(project=cast.project).order_by("pk").values())
        count = aggregates.rebuild_project(cast.project.pk)
        after = rows(cast.project.pk)
        assert count == len(after)
        assert set(after) == set(before)
        for key, values in before.items():
            rebuilt = after[key]
            assert rebuilt["measurement_count"] == values["measurement_count"]
            assert rebuilt["location_known"] == values["location_known"]
            for f in USAGE_FIELDS:
                assert rebuilt[f] == pytest.approx(values[f], rel=1e-9, abs=1e-12), (key, f)
        totals_after = list(Run.objects.filter(project=cast.project).order_by("pk").values())
        for a, b in zip(totals_before, totals_after, strict=True):
            assert_same_run(a, b)
        transaction.set_rollback(True)


def assert_same_run(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Two rows of a run alike: floats to rounding, everything else exactly."""
    for name, value in a.items():
        if isinstance(value, float):
            assert b[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
        else:
            assert b[name] == value, name


# --- run times ------------------------------------------------------------------------


def test_a_run_created_after_its_measurements_starts_and_ends_with_them(
    cast: Cast, client: Client
) -> None:
    # An import or a late client: the run is created now, its intervals are from earlier.
    run = create(client, cast)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    post(
        client,
        cast,
        run["id"],
        [measurement(start=start + timedelta(hours=i), duration_s=3600) for i in range(2)],
    )
    finished = api(
        client, "post", f"/api/v1/runs/{run['id']}/finish", cast.ingest_key, {"status": "finished"}
    ).json()
    assert datetime.fromisoformat(finished["started_at"]) == start
    assert datetime.fromisoformat(finished["ended_at"]) == start + timedelta(hours=2)
    detail = api(client, "get", f"/api/v1/runs/{run['id']}", cast.read_key).json()
    assert (detail["started_at"], detail["ended_at"]) == (
        finished["started_at"],
        finished["ended_at"],
    )
    page = cast.client_for("viewer").get(f"/o/{cast.org.uuid}/runs/{run['id']}/")
    assert f"started {start:%Y-%m-%d %H:%M:%S} UTC" in page.content.decode()
    assert f"ended {start + timedelta(hours=2):%Y-%m-%d %H:%M:%S} UTC" in page.content.decode()
    listed = api(client, "get", "/api/v1/runs", cast.read_key).json()["results"][0]
    assert listed["started_at"] == finished["started_at"]


def test_a_run_ends_with_its_last_interval_whatever_ended_at_says(
    cast: Cast, client: Client
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    run = create(client, cast, started_at=(start - timedelta(minutes=10)).isoformat())
    post(client, cast, run["id"], [measurement(start=start, duration_s=600)])
    body = api(
        client,
        "post",
        f"/api/v1/runs/{run['id']}/finish",
        cast.ingest_key,
        {"status": "finished", "ended_at": datetime.now(UTC).isoformat()},
    ).json()
    assert datetime.fromisoformat(body["started_at"]) == start
    assert datetime.fromisoformat(body["ended_at"]) == start + timedelta(seconds=600)
    # An interval that arrives after the finish moves the end, and an earlier one the start.
    post(
        client,
        cast,
        run["id"],
        [
            measurement(start=start + timedelta(hours=1), duration_s=60),
            measurement(start=start - timedelta(hours=1), duration_s=60),
        ],
    )
    r = Run.objects.get(uuid=run["id"])
    assert r.started_at == r.first_start == start - timedelta(hours=1)
    assert r.ended_at == r.last_end == start + timedelta(hours=1, seconds=60)


def test_a_running_run_has_no_end_and_a_run_without_intervals_ends_when_finished(
    cast: Cast, client: Client
) -> None:
    run = create(client, cast)
    post(client, cast, run["id"], [measurement()])
    assert Run.objects.get(uuid=run["id"]).ended_at is None
    empty = create(client, cast, run_key="empty")
    body = api(
        client, "post", f"/api/v1/runs/{empty['id']}/finish", cast.ingest_key, {"status": "failed"}
    ).json()
    assert body["ended_at"] is not None
    assert datetime.fromisoformat(body["ended_at"]) >= datetime.fromisoformat(body["started_at"])


def test_a_rebuild_puts_run_times_back_on_the_measurements(cast: Cast, client: Client) -> None:
    run = create(client, cast)
    post(client, cast, run["id"], [measurement(start=BASE, duration_s=60)])
    api(client, "post", f"/api/v1/runs/{run['id']}/finish", cast.ingest_key, {"status": "finished"})
    # Runs stored before run times followed their measurements.
    Run.objects.filter(uuid=run["id"]).update(
        started_at=BASE + timedelta(days=3), ended_at=BASE + timedelta(days=1)
    )
    aggregates.rebuild_project(cast.project.pk)
    r = Run.objects.get(uuid=run["id"])
    assert (r.started_at, r.ended_at) == (BASE, BASE + timedelta(seconds=60))
