"""Time series: power over a run and usage per bucket hold exactly the energy measured.

An interval's energy is spread over the buckets it overlaps in proportion to time, every
bucket of the span is present (zero where nothing ran), and power in a bucket is its
energy divided by its length, so the area under every series is the energy.
"""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api import ingest, queries, schema
from api.models import Project, Run, UsageHour
from dashboards import charts
from tests.cast import Cast, api, measurement

# A Monday, far enough in the past for every layout to end before "now".
BASE = datetime(2025, 6, 2, tzinfo=UTC)
KWH_TO_J = 3_600_000.0
PROPERTY = settings(
    max_examples=35,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Interval:
    """One measurement of a layout: a rank's interval at constant power per component."""

    rank: int
    start: datetime
    seconds: float
    cpu_w: float
    gpu_w: float
    ram_w: float

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)

    def kwh(self, watts: float) -> float:
        return watts * self.seconds / KWH_TO_J

    @property
    def energy_kwh(self) -> float:
        return self.kwh(self.cpu_w) + self.kwh(self.gpu_w) + self.kwh(self.ram_w)

    def item(self, seq: int) -> dict[str, Any]:
        return measurement(
            start=self.start,
            duration_s=self.seconds,
            cpu_kwh=self.kwh(self.cpu_w),
            gpu_kwh=self.kwh(self.gpu_w),
            ram_kwh=self.kwh(self.ram_w),
            rank=self.rank,
            seq=seq,
        )

    def overlap_s(self, lo: datetime, hi: datetime) -> float:
        return max((min(self.end, hi) - max(self.start, lo)).total_seconds(), 0.0)


@st.composite
def layouts(draw: Any) -> list[Interval]:
    """Several ranks' intervals from a second to several hours long, with gaps between
    them and overlaps among them, starting anywhere in an hour (to the millisecond)."""
    origin = BASE + timedelta(milliseconds=draw(st.integers(0, 86_400_000)))
    out = []
    for rank in range(draw(st.integers(1, 3))):
        for _ in range(draw(st.integers(1, 6))):
            offset_ms = draw(st.integers(0, 10 * 3_600_000))
            seconds = draw(
                st.one_of(st.integers(1, 120), st.integers(121, 5 * 3600)).map(float)
                | st.integers(1_000, 3 * 3_600_000).map(lambda ms: ms / 1000)
            )
            watts = [draw(st.floats(0.0, limit, allow_nan=False)) for limit in (400, 3000, 80)]
            out.append(Interval(rank, origin + timedelta(milliseconds=offset_ms), seconds, *watts))
    return out


def post_layout(client: Client | None, cast: Cast, layout: list[Interval], cut: int = 0) -> Run:
    """Create a run and post its intervals in two batches split at ``cut``: through the API
    with a client, else straight to ``api.ingest`` (the code the API calls, without the
    HTTP round trips, for property tests that post hundreds of layouts)."""
    key = f"r-{uuid.uuid4()}"
    items = [iv.item(seq) for seq, iv in enumerate(layout)]
    cut = min(max(cut, 0), len(items))
    batches = [batch for batch in (items[:cut], items[cut:]) if batch]
    if client is None:
        run, _ = ingest.get_or_create_run(cast.project, {"run_key": key})
        for batch in batches:
            ingest.ingest_measurements(run, schema.measurements(batch))
        return Run.objects.get(pk=run.pk)
    created = api(client, "post", "/api/v1/runs", cast.ingest_key, {"run_key": key})
    assert created.status_code == 201, created.content
    run_id = created.json()["id"]
    for batch in batches:
        r = api(
            client,
            "post",
            f"/api/v1/runs/{run_id}/measurements",
            cast.ingest_key,
            {"measurements": batch},
        )
        assert r.status_code in (200, 201), r.content
    return Run.objects.get(uuid=run_id)


def drawn_kwh(fig: dict[str, Any]) -> float:
    """The area under a figure's traces as plotly draws them with ``shape`` "hv": each y
    holds from its x to the next x (stacked traces add up)."""
    total = 0.0
    for trace in fig["data"]:
        assert trace["line"]["shape"] == "hv"
        xs = [datetime.fromisoformat(x).timestamp() for x in trace["x"]]
        ys = trace["y"]
        total += sum(ys[i] * (xs[i + 1] - xs[i]) for i in range(len(xs) - 1))
    return total / KWH_TO_J


# --- power over a run -----------------------------------------------------------------


def test_long_intervals_are_drawn_at_their_own_power_not_as_peaks(
    cast: Cast, client: Client
) -> None:
    # 48 intervals of 750 s at a steady 1,000 W (the demo's shape): the run lasts 10 h, so
    # the 600 buckets are 60 s each and every interval covers 12.5 of them.
    layout = [
        Interval(0, BASE + timedelta(seconds=750 * i), 750.0, 100.0, 850.0, 50.0) for i in range(48)
    ]
    run = post_layout(client, cast, layout)
    series = queries.run_series(run)
    points = series["points"]
    assert series["bucket_s"] == pytest.approx(60.0)
    assert len(points) == 600
    assert max(p["power_w"] for p in points) == pytest.approx(1000.0)
    assert min(p["power_w"] for p in points) == pytest.approx(1000.0)
    assert [p["gpu_power_w"] for p in points] == pytest.approx([850.0] * 600)
    fig = charts.run_power(series)
    assert drawn_kwh(fig) == pytest.approx(run.energy_kwh, rel=1e-9)
    assert run.energy_kwh == pytest.approx(10.0)


def test_a_gap_in_a_run_is_drawn_as_zero_power(cast: Cast, client: Client) -> None:
    layout = [
        Interval(0, BASE, 3600.0, 0.0, 1000.0, 0.0),
        Interval(0, BASE + timedelta(hours=3), 3600.0, 0.0, 1000.0, 0.0),
    ]
    run = post_layout(client, cast, layout)
    series = queries.run_series(run, max_points=4)  # 1 h buckets over the 4 h span
    assert [p["gpu_power_w"] for p in series["points"]] == pytest.approx([1000, 0, 0, 1000])
    assert [p["energy_kwh_cum"] for p in series["points"]] == pytest.approx([1, 1, 1, 2])
    assert series["points"][-1]["t_end"] == pytest.approx(run.last_end.timestamp())


def test_the_series_api_serves_every_bucket_with_its_end(cast: Cast, client: Client) -> None:
    layout = [Interval(r, BASE, 7200.0, 10.0, 200.0, 5.0) for r in range(2)]
    run = post_layout(client, cast, layout)
    body = api(client, "get", f"/api/v1/runs/{run.uuid}/series", cast.read_key).json()
    points = body["points"]
    assert len(points) == 600 and body["bucket_s"] == pytest.approx(12.0)
    assert all(b["t"] == pytest.approx(a["t_end"]) for a, b in itertools.pairwise(points))
    assert sum(p["power_w"] for p in points) * body["bucket_s"] / KWH_TO_J == pytest.approx(0.86)
    assert set(body["ranks"]) == {"node-a/rank 0", "node-a/rank 1"}
    assert all(len(r) == 600 for r in body["ranks"].values())


@PROPERTY
@given(layout=layouts(), max_points=st.integers(1, 700), cut=st.integers(0, 20))
def test_the_area_under_a_runs_power_is_its_energy(
    cast: Cast, layout: list[Interval], max_points: int, cut: int
) -> None:
    with transaction.atomic():
        run = post_layout(None, cast, layout, cut)
        series = queries.run_series(run, max_points=max_points)
        points = series["points"]
        width = series["bucket_s"]
        span = (run.last_end - run.first_start).total_seconds()
        assert len(points) == max(1, min(max_points, int(span)))
        assert width * len(points) == pytest.approx(span)
        assert points[0]["t"] == pytest.approx(run.first_start.timestamp())
        assert points[-1]["t_end"] == pytest.approx(run.last_end.timestamp())
        total = sum(iv.energy_kwh for iv in layout)
        assert run.energy_kwh == pytest.approx(total, rel=1e-9, abs=1e-12)
        area = sum(p["power_w"] * width for p in points) / KWH_TO_J
        assert area == pytest.approx(total, rel=0.01, abs=1e-9)
        for comp in ("cpu", "gpu", "ram"):
            comp_area = sum(p[f"{comp}_power_w"] * width for p in points) / KWH_TO_J
            expected = sum(iv.kwh(getattr(iv, f"{comp}_w")) for iv in layout)
            assert comp_area == pytest.approx(expected, rel=0.01, abs=1e-9)
        assert points[-1]["energy_kwh_cum"] == pytest.approx(total, rel=1e-9, abs=1e-12)
        assert points[-1]["emissions_kg_cum"] == pytest.approx(run.emissions_kg, rel=1e-9)
        # Nowhere above what every interval running at once would draw.
        ceiling = sum(iv.cpu_w + iv.gpu_w + iv.ram_w for iv in layout)
        assert max(p["power_w"] for p in points) <= ceiling * (1 + 1e-9) + 1e-9
        if series["ranks"]:
            for i, p in enumerate(points):
                ranks = sum(r[i]["power_w"] for r in series["ranks"].values())
                assert ranks == pytest.approx(p["power_w"], rel=1e-9, abs=1e-9)
        if any(p["power_w"] for p in points):
            assert drawn_kwh(charts.run_power(series)) == pytest.approx(total, rel=0.01)
        transaction.set_rollback(True)


# --- usage per bucket -----------------------------------------------------------------


def test_an_hourly_series_holds_the_energy_of_each_hour(cast: Cast, client: Client) -> None:
    # 3 h at 1 kW from 10:30: half an hour in the 10:00 and 13:00 buckets, whole ones between.
    post_layout(client, cast, [Interval(0, BASE + timedelta(hours=10.5), 3 * 3600.0, 0, 1e3, 0)])
    url = (
        f"/api/v1/projects/{cast.project.uuid}/series?bucket=hour"
        "&start=2025-06-02T10:00:00Z&end=2025-06-02T15:00:00Z"
    )
    points = api(client, "get", url, cast.read_key).json()["points"]
    assert [p["t"][11:16] for p in points] == ["10:00", "11:00", "12:00", "13:00", "14:00"]
    assert [p["energy_kwh"] for p in points] == pytest.approx([0.5, 1.0, 1.0, 0.5, 0.0])
    assert [p["power_w"] for p in points] == pytest.approx([500, 1000, 1000, 500, 0])
    assert [p["bucket_s"] for p in points] == [3600.0] * 5
    assert [p["measurement_count"] for p in points] == [1, 0, 0, 0, 0]


def test_quiet_days_are_in_the_series_as_zeros(cast: Cast, client: Client) -> None:
    post_layout(client, cast, [Interval(0, BASE + timedelta(hours=2), 600.0, 0, 600, 0)])
    post_layout(client, cast, [Interval(0, BASE + timedelta(days=4), 600.0, 0, 600, 0)])
    qs = Project.objects.filter(pk=cast.project.pk)
    week = queries.usage_series(qs, BASE, BASE + timedelta(days=7), "day", by="zone")
    assert [p["t"] for p in week] == [BASE + timedelta(days=d) for d in range(7)]
    assert [p["energy_kwh"] for p in week] == pytest.approx([0.1, 0, 0, 0, 0.1, 0, 0])
    assert {p["zone"] for p in week} == {"FRA"}
    # Without a period the series runs from the first to the last day with usage.
    assert len(queries.usage_series(qs, None, None, "day")) == 5


def test_buckets_cut_by_the_period_count_only_their_hours(cast: Cast) -> None:
    qs = Project.objects.filter(pk=cast.project.pk)
    # 30 days from Wednesday 4 June: the first and last weeks are cut short.
    start = BASE + timedelta(days=2)
    points = queries.usage_series(qs, start, start + timedelta(days=30), "week")
    assert points[0]["t"] == BASE
    assert [p["bucket_s"] / 86400 for p in points] == [5, 7, 7, 7, 4]
    months = queries.usage_series(qs, BASE, datetime(2025, 9, 1, tzinfo=UTC), "month")
    assert [p["bucket_s"] / 86400 for p in months] == [29, 31, 31]  # from 2 June


def test_a_series_of_too_many_buckets_is_refused(cast: Cast, client: Client) -> None:
    url = (
        f"/api/v1/projects/{cast.project.uuid}/series?bucket=hour"
        "&start=2001-01-01T00:00:00Z&end=2025-01-01T00:00:00Z"
    )
    r = api(client, "get", url, cast.read_key)
    assert r.status_code == 400
    assert "buckets" in r.json()["message"]


@PROPERTY
@given(
    layout=layouts(),
    before=st.integers(0, 24 * 12),
    after=st.integers(0, 24 * 12),
    minutes=st.integers(0, 59),
)
def test_the_usage_series_hold_the_energy_in_every_bucket_size(
    cast: Cast, layout: list[Interval], before: int, after: int, minutes: int
) -> None:
    with transaction.atomic():
        half = len(layout) // 2
        runs = [post_layout(None, cast, layout[:half], 1), post_layout(None, cast, layout[half:])]
        runs = [r for r in runs if r.measurement_count]
        qs = Project.objects.filter(pk=cast.project.pk)
        first = min(iv.start for iv in layout)
        last = max(iv.end for iv in layout)
        hour0 = first.replace(minute=0, second=0, microsecond=0)
        start = hour0 - timedelta(hours=before, minutes=minutes if before else 0)
        end = last + timedelta(hours=after, minutes=minutes)
        total = sum(iv.energy_kwh for iv in layout)
        assert sum(r.energy_kwh for r in runs) == pytest.approx(total, rel=1e-9, abs=1e-12)
        series = {b: queries.usage_series(qs, start, end, b) for b in queries.BUCKETS}
        for bucket, points in series.items():
            assert points[0]["t"] == queries.bucket_start(queries._ceil_hour(start), bucket)
            for a, b in itertools.pairwise(points):
                assert b["t"] == queries.next_bucket(a["t"], bucket), bucket
            assert sum(p["energy_kwh"] for p in points) == pytest.approx(total, rel=1e-9, abs=1e-12)
            area = sum(p["power_w"] * p["bucket_s"] for p in points) / KWH_TO_J
            assert area == pytest.approx(total, rel=0.01, abs=1e-9), bucket
            assert sum(p["measurement_count"] for p in points) == len(layout)
        # Each hour holds exactly the energy used in it (the intervals at constant power),
        # and counts the intervals that start in it.
        hour = timedelta(hours=1)
        used = [
            sum(iv.energy_kwh * iv.overlap_s(p["t"], p["t"] + hour) / iv.seconds for iv in layout)
            for p in series["hour"]
        ]
        assert [p["energy_kwh"] for p in series["hour"]] == pytest.approx(used, rel=1e-9, abs=1e-12)
        started = [
            sum(1 for iv in layout if p["t"] <= iv.start < p["t"] + hour) for p in series["hour"]
        ]
        assert [p["measurement_count"] for p in series["hour"]] == started
        # Hours add up to days, weeks and months.
        for bucket in ("day", "week", "month"):
            sums: dict[datetime, float] = defaultdict(float)
            for p in series["hour"]:
                sums[queries.bucket_start(p["t"], bucket)] += p["energy_kwh"]
            assert [p["energy_kwh"] for p in series[bucket]] == pytest.approx(
                [sums[p["t"]] for p in series[bucket]], rel=1e-9, abs=1e-12
            )
        rows = UsageHour.objects.filter(project=cast.project)
        assert sum(h.energy_kwh for h in rows) == pytest.approx(total, rel=1e-9, abs=1e-12)
        transaction.set_rollback(True)
