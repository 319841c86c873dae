"""One reconciliation: on the seeded demo and on random data, the overview, project,
experiment and run pages, the API's summaries and series, and all four report formats
agree to the displayed precision.

The period is a finished custom range of whole days that holds every interval of the
data, so the two ways figures choose what they count agree: usage (``UsageHour``) is
counted by time, runs in the period in which they started. Every comparison is made and
every disagreement is listed (page or format, field, both values) before the test fails.

What "agree" means for each pair:

* two API figures: within the API's rounding (``api.precision``: 6 decimals of kWh and
  kg, 4 of hours) times the number of rounded terms summed, plus float noise;
* a page and the API: the displayed string, read back, stands for the API's figure to
  the digits it shows (``"1.23 MWh"`` is 1,225 to 1,235 kWh);
* a report and the API: the same, at the report's rounding (``reports.rounding.PLACES``),
  and exactly (to the API's rounding) where a format keeps full precision (JSON, CSV).
"""

from __future__ import annotations

import math
import random
import re
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db.models import Max, Min
from django.test import Client

import carbon
from api.models import Measurement, Organisation, UsageHour
from dashboards import formatting
from reports.build import mwh, tonnes
from reports.rounding import PLACES
from tests.cast import Cast
from tests.reports.reconcile_data import (
    SCALE,
    Element,
    Ledger,
    ReportFiles,
    Row,
    data_numbers,
    figure,
    generate_report,
    parse_html,
    post_random_data,
    read_report,
    read_shown,
    section,
    stat_cards,
    table_rows,
)

# Half a unit of the API's last decimal (api.precision.UNITS).
KWH = 5e-7
KG = 5e-7
HOURS = 5e-5
SHARE = 5e-5
SECONDS = 5e-4
W = 0.05
# The quantities every usage total carries, with the rounding of each in the API.
USAGE = {
    "energy_kwh": KWH,
    "facility_energy_kwh": KWH,
    "emissions_kg": KG,
    "measured_energy_kwh": KWH,
    "imported_energy_kwh": KWH,
    "estimated_energy_kwh": KWH,
    "gpu_hours": HOURS,
}
COUNTS = ("run_count", "measurement_count")
SERIES = {"energy_kwh": KWH, "emissions_kg": KG, "gpu_hours": HOURS, "measured_energy_kwh": KWH}
# The seeded demo is generated as if it were this moment, so that it lies in a finished
# period (the demo fills the time up to "now"); 100 runs keep the test fast (320: 21 s).
DEMO_NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
DEMO_RUNS = 100
RANDOM_SEED = 29


def midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def get_json(client: Client, path: str) -> Any:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.content[:500])
    return response.json()


def get_page(client: Client, path: str) -> Element:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return parse_html(response.content)


def uuid_in(href: str) -> str:
    """The last uuid of a link (``/o/<org>/projects/<uuid>/?period=...``)."""
    found = re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", href)
    return found[-1] if found else ""


def nonzero(points: list[dict[str, Any]], name: str) -> int:
    """How many rounded terms a sum of points adds (a zero point is exactly zero)."""
    return sum(1 for p in points if p[name])


def chart_sums(fig: dict[str, Any]) -> tuple[dict[str, float], list[str]]:
    """Per trace name, the sum of a stacked-bar figure's y values in kg; and every x."""
    title = fig["layout"]["yaxis"]["title"]["text"]
    unit = re.search(r"\((.+)\)", title)
    scale = SCALE[unit.group(1)] if unit else 1.0
    sums: dict[str, float] = defaultdict(float)
    xs: list[str] = []
    for trace in fig["data"]:
        sums[trace["name"]] += sum(trace["y"]) * scale
        xs.extend(trace["x"])
    return dict(sums), xs


class Reconciliation:
    """Everything the pages, the API and the report say about one organisation over one
    finished period, compared pairwise into a :class:`Ledger`."""

    def __init__(
        self,
        org: Organisation,
        reader: Client,
        writer: Client,
        first_day: date,
        last_day: date,
        capture: Any,
        sample: int,
    ) -> None:
        self.org = org
        self.reader = reader
        self.writer = writer
        self.first_day = first_day
        self.last_day = last_day
        self.capture = capture
        self.sample = sample
        self.start = midnight(first_day)
        self.end = midnight(last_day + timedelta(days=1))
        self.range = f"start={self.start.isoformat()}&end={self.end.isoformat()}".replace(
            "+", "%2B"
        )
        self.period = f"period=custom&start={first_day.isoformat()}&end={last_day.isoformat()}"
        self.o = f"/o/{org.uuid}"
        self.ledger = Ledger()

    # -- the data lies in the period ------------------------------------------------------

    def check_the_period_holds_every_interval(self) -> None:
        span = Measurement.objects.filter(run__project__organisation=self.org).aggregate(
            first=Min("start"), last=Max("end")
        )
        assert span["first"] is not None, "no data"
        assert self.start <= span["first"] and span["last"] <= self.end, (span, self.start)
        hours = UsageHour.objects.filter(project__organisation=self.org).aggregate(
            first=Min("hour"), last=Max("hour")
        )
        assert self.start <= hours["first"] and hours["last"] < self.end, hours

    # -- the API ---------------------------------------------------------------------------

    def read_api(self) -> None:
        c = self.reader
        self.org_api = get_json(c, f"/api/v1/organisations/{self.org.uuid}?{self.range}")
        self.projects = [
            p
            for p in get_json(c, "/api/v1/projects")["results"]
            if p["organisation_id"] == str(self.org.uuid)
        ]
        self.summary: dict[str, dict[str, Any]] = {}
        self.all_time: dict[str, dict[str, Any]] = {}
        self.experiments: dict[str, list[dict[str, Any]]] = {}
        self.runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for p in self.projects:
            pid = p["id"]
            self.summary[pid] = get_json(c, f"/api/v1/projects/{pid}/summary?{self.range}")
            self.all_time[pid] = get_json(c, f"/api/v1/projects/{pid}")
            listed = get_json(c, f"/api/v1/experiments?project={pid}")["results"]
            self.experiments[pid] = [get_json(c, f"/api/v1/experiments/{e['id']}") for e in listed]
            runs = get_json(c, f"/api/v1/runs?project={pid}&limit=1000")
            assert runs["next"] is None
            for r in runs["results"]:
                self.runs[r["experiment_id"]].append(r)

    def check_api_totals(self) -> None:
        """Projects add up to the organisation, experiments to their project, runs to
        their experiment; every run started in the period."""
        led = self.ledger
        org = self.org_api
        by_project = {r["project_id"]: r for r in org["by_project"]}
        n = len(self.summary)
        for name, half in USAGE.items():
            total = sum(s[name] for s in self.summary.values())
            led.equal(
                "organisation",
                f"sum of project summaries' {name}",
                total,
                f"organisation {name}",
                org[name],
                (n + 1) * half,
            )
        for name in COUNTS:
            led.same(
                "organisation",
                f"sum of project summaries' {name}",
                sum(s[name] for s in self.summary.values()),
                f"organisation {name}",
                org[name],
            )
        for pid, s in self.summary.items():
            where = f"project {s['project_id'][:8]}"
            row = by_project.get(pid)
            if row is None:
                led.same(
                    where,
                    "energy_kwh of a project missing from by_project",
                    s["energy_kwh"],
                    "zero",
                    0.0,
                )
                continue
            for name, half in USAGE.items():
                if name in row:
                    led.equal(
                        where,
                        f"organisation by_project {name}",
                        row[name],
                        f"project summary {name}",
                        s[name],
                        2 * half,
                    )
            led.same(
                where,
                "by_project measurement_count",
                row["measurement_count"],
                "summary measurement_count",
                s["measurement_count"],
            )
            for name in ("energy_kwh", "emissions_kg", "facility_energy_kwh"):
                zones = s["by_zone"]
                led.equal(
                    where,
                    f"sum of by_zone {name}",
                    sum(z[name] for z in zones),
                    f"summary {name}",
                    s[name],
                    (len(zones) + 1) * USAGE[name],
                )
            for name, half in USAGE.items():
                led.equal(
                    where,
                    f"all-time {name}",
                    self.all_time[pid][name],
                    f"period summary {name}",
                    s[name],
                    2 * half,
                )
            exps = self.experiments[pid]
            for name in ("energy_kwh", "emissions_kg", "gpu_hours", "measured_energy_kwh"):
                led.equal(
                    where,
                    f"sum of experiments' {name}",
                    sum(e[name] for e in exps),
                    f"project summary {name}",
                    s[name],
                    (len(exps) + 1) * USAGE[name],
                )
            for name in COUNTS:
                led.same(
                    where,
                    f"sum of experiments' {name}",
                    sum(e[name] for e in exps),
                    f"project summary {name}",
                    s[name],
                )
            for e in exps:
                self.check_experiment_runs(e)
        runs = [r for rs in self.runs.values() for r in rs]
        led.same(
            "organisation", "runs listed", len(runs), "organisation run_count", org["run_count"]
        )
        for name in (
            "energy_kwh",
            "facility_energy_kwh",
            "emissions_kg",
            "gpu_hours",
            "measured_energy_kwh",
        ):
            led.equal(
                "organisation",
                f"sum of runs' {name}",
                sum(r[name] for r in runs),
                f"organisation {name}",
                org[name],
                (len(runs) + 1) * USAGE[name],
            )
        led.same(
            "organisation",
            "sum of runs' measurement_count",
            sum(r["measurement_count"] for r in runs),
            "organisation measurement_count",
            org["measurement_count"],
        )
        for r in runs:
            started = datetime.fromisoformat(r["started_at"])
            led.same(
                f"run {r['run_key']}",
                "started in the period",
                self.start <= started < self.end,
                "expected",
                True,
            )

    def check_experiment_runs(self, e: dict[str, Any]) -> None:
        led = self.ledger
        where = f"experiment {e['name']} ({e['id'][:8]})"
        runs = self.runs[e["id"]]
        led.same(where, "runs listed", len(runs), "experiment run_count", e["run_count"])
        statuses: dict[str, int] = defaultdict(int)
        for r in runs:
            statuses[r["status"]] += 1
        led.same(
            where, "runs listed by status", dict(statuses), "runs_by_status", e["runs_by_status"]
        )
        for name in ("energy_kwh", "emissions_kg", "gpu_hours", "measured_energy_kwh"):
            led.equal(
                where,
                f"sum of runs' {name}",
                sum(r[name] for r in runs),
                f"experiment {name}",
                e[name],
                (len(runs) + 1) * USAGE[name],
            )
        led.same(
            where,
            "sum of runs' measurement_count",
            sum(r["measurement_count"] for r in runs),
            "experiment measurement_count",
            e["measurement_count"],
        )

    def check_series(self) -> None:
        """Hourly, daily, weekly and monthly series add up to the totals, per project and
        for the organisation; every point lies in the period; power x time is energy."""
        led = self.ledger
        c = self.reader
        period_s = (self.end - self.start).total_seconds()
        for bucket in ("hour", "day", "week", "month"):
            points = get_json(
                c, f"/api/v1/organisations/{self.org.uuid}/series?{self.range}&bucket={bucket}"
            )["points"]
            where = f"organisation series ({bucket})"
            for name, half in SERIES.items():
                led.equal(
                    where,
                    f"sum of {name}",
                    sum(p[name] for p in points),
                    f"organisation {name}",
                    self.org_api[name],
                    (nonzero(points, name) + 1) * half,
                )
            led.same(
                where,
                "sum of measurement_count",
                sum(p["measurement_count"] for p in points),
                "organisation measurement_count",
                self.org_api["measurement_count"],
            )
            by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for p in points:
                by_name[p["project"]].append(p)
            for pid, s in self.summary.items():
                name = next(p["name"] for p in self.projects if p["id"] == pid)
                mine = by_name.get(name, [])
                led.equal(
                    f"{where}, project {name}",
                    "sum of emissions_kg",
                    sum(p["emissions_kg"] for p in mine),
                    "project summary emissions_kg",
                    s["emissions_kg"],
                    (nonzero(mine, "emissions_kg") + 1) * KG,
                )
                if mine:
                    led.equal(
                        f"{where}, project {name}",
                        "sum of bucket_s",
                        sum(p["bucket_s"] for p in mine),
                        "seconds in the period",
                        period_s,
                        len(mine) * SECONDS,
                    )
            # A week or month bucket starts where the week or month does, so the first may
            # start before the period; each must overlap it by its bucket_s.
            longest = {"hour": 3600, "day": 86400, "week": 7 * 86400, "month": 31 * 86400}[bucket]
            outside = sorted(
                {
                    p["t"]
                    for p in points
                    if not (
                        self.start - timedelta(seconds=longest - p["bucket_s"])
                        <= datetime.fromisoformat(p["t"])
                        < self.end
                    )
                }
            )
            led.same(where, "points outside the period", outside[:3], "expected", [])
        for pid, s in self.summary.items():
            for bucket in ("hour", "day"):
                points = get_json(c, f"/api/v1/projects/{pid}/series?{self.range}&bucket={bucket}")[
                    "points"
                ]
                where = f"project {pid[:8]} series ({bucket})"
                for name, half in SERIES.items():
                    led.equal(
                        where,
                        f"sum of {name}",
                        sum(p[name] for p in points),
                        f"project summary {name}",
                        s[name],
                        (nonzero(points, name) + 1) * half,
                    )
                led.same(
                    where,
                    "sum of measurement_count",
                    sum(p["measurement_count"] for p in points),
                    "summary measurement_count",
                    s["measurement_count"],
                )
                led.equal(
                    where,
                    "sum of bucket_s",
                    sum(p["bucket_s"] for p in points),
                    "seconds in the period",
                    period_s,
                    len(points) * SECONDS,
                )
                bad = [
                    p["t"]
                    for p in points
                    if not math.isclose(
                        p["power_w"] * p["bucket_s"] / 3.6e6,
                        p["energy_kwh"],
                        abs_tol=W * p["bucket_s"] / 3.6e6 + KWH,
                    )
                ]
                led.same(
                    where,
                    "points whose power_w x bucket_s is not their energy",
                    bad[:5],
                    "expected",
                    [],
                )
                starts = [datetime.fromisoformat(p["t"]) for p in points]
                if bucket == "hour":
                    led.same(where, "first hour", starts[0], "period start", self.start)
                    led.same(
                        where, "hours", len(points), "hours in the period", int(period_s // 3600)
                    )

    def check_hours_against_measurements(self) -> None:
        """The hourly and daily series hold, in each bucket, the energy and emissions used
        in it: every stored interval split across the hours it overlaps in proportion to
        time (the documented rule), computed here from the raw measurements; and each
        interval counted once, in the hour it starts."""
        led = self.ledger
        hour = timedelta(hours=1)
        for pid in self.summary:
            energy: dict[datetime, float] = defaultdict(float)
            kg: dict[datetime, float] = defaultdict(float)
            count: dict[datetime, int] = defaultdict(int)
            rows = Measurement.objects.filter(run__project__uuid=pid).values_list(
                "start", "end", "cpu_energy_kwh", "gpu_energy_kwh", "ram_energy_kwh", "emissions_kg"
            )
            for start, end, cpu, gpu, ram, emitted in rows:
                first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
                count[first] += 1
                length = (end - start).total_seconds()
                h = first
                while True:
                    inside = (min(end, h + hour) - max(start, h)).total_seconds()
                    share = inside / length if length > 0 else 1.0
                    energy[h] += (cpu + gpu + ram) * share
                    kg[h] += emitted * share
                    h += hour
                    if h >= end:
                        break
            for bucket in ("hour", "day"):
                points = get_json(
                    self.reader, f"/api/v1/projects/{pid}/series?{self.range}&bucket={bucket}"
                )["points"]
                where = f"project {pid[:8]} {bucket}ly series against its measurements"
                want_e: dict[datetime, float] = defaultdict(float)
                want_kg: dict[datetime, float] = defaultdict(float)
                want_n: dict[datetime, int] = defaultdict(int)
                for h, value in energy.items():
                    key = h if bucket == "hour" else h.replace(hour=0)
                    want_e[key] += value
                    want_kg[key] += kg[h]
                for h, n in count.items():
                    want_n[h if bucket == "hour" else h.replace(hour=0)] += n
                got = {datetime.fromisoformat(p["t"]): p for p in points}
                missing = sorted(t for t in want_e if t not in got)
                led.same(where, "buckets with usage but no point", missing[:3], "expected", [])
                bad_e = [
                    (t.isoformat(), p["energy_kwh"], round(want_e.get(t, 0.0), 6))
                    for t, p in got.items()
                    if not math.isclose(
                        p["energy_kwh"], want_e.get(t, 0.0), rel_tol=1e-9, abs_tol=2 * KWH
                    )
                ]
                led.same(
                    where,
                    "buckets whose energy_kwh is not the energy used in them (t, API, measurements)",
                    bad_e[:4],
                    "expected",
                    [],
                )
                bad_kg = [
                    (t.isoformat(), p["emissions_kg"], round(want_kg.get(t, 0.0), 6))
                    for t, p in got.items()
                    if not math.isclose(
                        p["emissions_kg"], want_kg.get(t, 0.0), rel_tol=1e-9, abs_tol=2 * KG
                    )
                ]
                led.same(
                    where,
                    "buckets whose emissions_kg is not the emissions in them",
                    bad_kg[:4],
                    "expected",
                    [],
                )
                bad_n = [
                    (t.isoformat(), p["measurement_count"], want_n.get(t, 0))
                    for t, p in got.items()
                    if p["measurement_count"] != want_n.get(t, 0)
                ]
                led.same(
                    where,
                    "buckets whose measurement_count is not the intervals starting in them",
                    bad_n[:4],
                    "expected",
                    [],
                )

    def check_run_series_against_measurements(
        self, where: str, run_id: str, points: list[dict[str, Any]]
    ) -> None:
        """A run series' cumulative energy at the end of each bucket is the energy of its
        intervals up to then, each spread evenly over its own length."""
        intervals = [
            (start.timestamp(), end.timestamp(), cpu + gpu + ram)
            for start, end, cpu, gpu, ram in Measurement.objects.filter(
                run__uuid=run_id
            ).values_list("start", "end", "cpu_energy_kwh", "gpu_energy_kwh", "ram_energy_kwh")
        ]
        bad = []
        for p in points:
            t = p["t_end"]
            want = sum(
                e if stop <= t else e * max(0.0, t - start) / (stop - start)
                for start, stop, e in intervals
            )
            # t_end is rounded to the millisecond in the answer: allow what that moves.
            slack = (
                2 * KWH
                + sum(e / (stop - start) for start, stop, e in intervals if start < t < stop)
                * SECONDS
            )
            if not math.isclose(p["energy_kwh_cum"], want, rel_tol=1e-9, abs_tol=slack):
                bad.append((p["t_end"], p["energy_kwh_cum"], round(want, 6)))
        self.ledger.same(
            where,
            "series points whose energy_kwh_cum is not the energy up to t_end (t_end, API, measurements)",
            bad[:3],
            "expected",
            [],
        )

    def check_runs(self) -> None:
        """Each run's answer is consistent in itself and with its series."""
        led = self.ledger
        for r in self.sampled_runs():
            where = f"run {r['run_key']} ({r['id'][:8]})"
            one = get_json(self.reader, f"/api/v1/runs/{r['id']}")
            for name in (
                "energy_kwh",
                "emissions_kg",
                "gpu_hours",
                "measured_energy_kwh",
                "duration_s",
            ):
                led.same(where, f"detail {name}", one[name], f"list {name}", r[name])
            parts = one["cpu_energy_kwh"] + one["gpu_energy_kwh"] + one["ram_energy_kwh"]
            led.equal(
                where, "cpu + gpu + ram energy", parts, "energy_kwh", one["energy_kwh"], 4 * KWH
            )
            led.equal(
                where,
                "energy_kwh x pue",
                one["energy_kwh"] * one["pue"],
                "facility_energy_kwh",
                one["facility_energy_kwh"],
                KWH * (1 + one["pue"]) + 5e-4 * one["energy_kwh"],
            )
            series = get_json(self.reader, f"/api/v1/runs/{r['id']}/series")
            points = series["points"]
            if not points:
                led.same(where, "series points", 0, "measurement_count", one["measurement_count"])
                continue
            led.equal(
                where,
                "series energy_kwh_cum at the end",
                points[-1]["energy_kwh_cum"],
                "energy_kwh",
                one["energy_kwh"],
                2 * KWH,
            )
            led.equal(
                where,
                "series emissions_kg_cum at the end",
                points[-1]["emissions_kg_cum"],
                "emissions_kg",
                one["emissions_kg"],
                2 * KG,
            )
            ranks = series["ranks"]
            if ranks:
                led.same(where, "series ranks", len(ranks), "distinct node/rank pairs", len(ranks))
                bad = [
                    p["t"]
                    for i, p in enumerate(points)
                    if not math.isclose(
                        sum(r[i]["power_w"] for r in ranks.values()),
                        p["power_w"],
                        abs_tol=(len(ranks) + 1) * W,
                    )
                ]
                led.same(
                    where,
                    "buckets whose ranks' power does not add up to the run's",
                    bad[:3],
                    "expected",
                    [],
                )
            self.check_run_series_against_measurements(where, r["id"], points)
            area = sum(p["power_w"] * (p["t_end"] - p["t"]) for p in points) / 3.6e6
            width = max(p["t_end"] - p["t"] for p in points)
            led.equal(
                where,
                "area under series power_w",
                area,
                "energy_kwh",
                one["energy_kwh"],
                len(points) * (W * width / 3.6e6) + KWH,
            )

    def sampled_runs(self) -> list[dict[str, Any]]:
        """Runs looked at one by one: the edge cases the data was built with (named other
        than ``job-N`` or ``demo-N``), a few that did not finish, and a fixed sample."""
        runs = sorted((r for rs in self.runs.values() for r in rs), key=lambda r: r["run_key"])
        edge = [r for r in runs if not re.fullmatch(r"(job|demo)-\d+", r["run_key"])]
        odd = [r for r in runs if r["status"] != "finished" and r not in edge][:4]
        rest = [r for r in runs if r not in odd and r not in edge]
        return edge + odd + random.Random(1).sample(rest, min(self.sample, len(rest)))

    # -- the pages -------------------------------------------------------------------------

    def check_overview(self) -> None:
        led = self.ledger
        org = self.org_api
        page = get_page(self.reader, f"{self.o}/?{self.period}")
        where = "overview"
        desc = page.find(lambda e: "data-to-date" in e.attrs)
        led.same(
            where,
            "data-to-date",
            desc.attrs["data-to-date"] if desc else None,
            "a finished period",
            "0",
        )
        current = page.find(lambda e: e.attrs.get("data-range") == "current")
        self.page_range = current.text() if current else None
        self.cards(where, stat_cards(page), org, "API organisation")
        card = section(page, "What the emissions amount to")
        big = card.find(lambda e: e.has_class("big"))
        led.shows(
            f"{where} 'What the emissions amount to'",
            big.text() if big else None,
            "API organisation emissions_kg",
            org["emissions_kg"],
            KG,
            formatting.mass,
        )
        facility = re.search(r"From (.+?) drawn by the facilities", card.text())
        led.shows(
            f"{where} facility energy",
            facility.group(1) if facility else None,
            "API organisation facility_energy_kwh",
            org["facility_energy_kwh"],
            KWH,
            formatting.energy,
        )
        share = re.search(
            r"([\d.,]+ %) of the IT energy was read", section(page, "Measured or estimated").text()
        )
        led.shows(
            f"{where} measured share",
            share.group(1) if share else None,
            "API organisation measured_share",
            org["measured_share"],
            SHARE,
            formatting.percent,
        )
        world = sum(
            z["emissions_kg"]
            for s in self.summary.values()
            for z in s["by_zone"]
            if z["zone"] == carbon.WORLD_ZONE
        )
        callout = page.find(lambda e: e.attrs.get("id") == "unknown-location")
        unknown = re.search(
            r"so (?:its|their) (.+?) are counted at the world-average",
            callout.text() if callout else "",
        )
        if world > 0:
            led.shows(
                f"{where} unknown-location callout",
                unknown.group(1) if unknown else None,
                "API sum of WORLD by_zone emissions_kg",
                world,
                KG * len(self.summary),
                formatting.mass,
            )
        rows = {uuid_in(r.href): r for r in table_rows(section(page, "Projects"))}
        for pid, s in self.summary.items():
            row = rows.get(pid)
            name = next(p["name"] for p in self.projects if p["id"] == pid)
            w = f"{where} projects table, {name}"
            if row is None:
                led.same(w, "row", None, "project energy_kwh", s["energy_kwh"])
                continue
            self.cells(
                w,
                row,
                [
                    ("energy_kwh", 1, formatting.energy, KWH),
                    ("emissions_kg", 2, formatting.mass, KG),
                    ("gpu_hours", 3, formatting.number, HOURS),
                ],
                s,
                "API project summary",
            )
            self.share(f"{w} measured", row.cells[4], "API project", s)
        by_id = {r["id"]: r for rs in self.runs.values() for r in rs}
        top = table_rows(section(page, "Top runs by emissions"))
        expected_top = sorted(by_id.values(), key=lambda r: -r["emissions_kg"])[: len(top)]
        led.same(
            f"{where} top runs",
            "runs listed",
            [uuid_in(r.href) for r in top],
            "the API's runs with the most emissions",
            [r["id"] for r in expected_top],
        )
        for row in top:
            r = by_id.get(uuid_in(row.href))
            if r is not None:
                self.cells(
                    f"{where} top runs, {r['run_key']}",
                    row,
                    [
                        ("energy_kwh", 3, formatting.energy, KWH),
                        ("emissions_kg", 4, formatting.mass, KG),
                    ],
                    r,
                    "API run",
                )
        if callout is not None:
            unknown_rows = table_rows(callout)
            for row in unknown_rows:
                r = by_id.get(uuid_in(row.href))
                led.same(
                    f"{where} unknown-location runs",
                    "run's location_known",
                    r["location_known"] if r else None,
                    "expected",
                    False,
                )
                if r is not None:
                    self.cells(
                        f"{where} unknown-location runs, {r['run_key']}",
                        row,
                        [("emissions_kg", 2, formatting.mass, KG)],
                        r,
                        "API run",
                    )
        else:
            led.same(
                where,
                "unknown-location callout",
                None,
                "API runs of unknown location",
                [r["run_key"] for r in by_id.values() if not r["location_known"]][:3] or None,
            )
        sums, xs = chart_sums(figure(page, "time"))
        names = {p["id"]: p["name"] for p in self.projects}
        led.equal(
            f"{where} emissions chart",
            "sum of bars",
            sum(sums.values()),
            "API organisation emissions_kg",
            org["emissions_kg"],
            KG,
        )
        for pid, s in self.summary.items():
            if names[pid] in sums:
                led.equal(
                    f"{where} emissions chart",
                    f"sum of {names[pid]} bars",
                    sums[names[pid]],
                    f"API {names[pid]} emissions_kg",
                    s["emissions_kg"],
                    KG,
                )
        # A weekly bar starts on the Monday of its week, which may be before the period.
        outside = sorted(
            {
                x
                for x in xs
                if not self.start - timedelta(days=31) < datetime.fromisoformat(x) < self.end
            }
        )
        led.same(f"{where} emissions chart", "bars outside the period", outside[:3], "expected", [])

    def check_project_pages(self) -> None:
        led = self.ledger
        for p in self.projects:
            pid = p["id"]
            s = self.summary[pid]
            page = get_page(self.reader, f"{self.o}/projects/{pid}/?{self.period}")
            where = f"project page {p['name']}"
            self.cards(where, stat_cards(page), s, "API project summary")
            rows = {uuid_in(r.href): r for r in table_rows(section(page, "Experiments"))}
            for e in self.experiments[pid]:
                row = rows.get(e["id"])
                w = f"{where} experiments table, {e['name']}"
                if row is None:
                    led.same(w, "row", None, "experiment run_count", e["run_count"])
                    continue
                led.same(w, "runs", row.cells[1], "API experiment run_count", str(e["run_count"]))
                self.cells(
                    w,
                    row,
                    [
                        ("energy_kwh", 2, formatting.energy, KWH),
                        ("emissions_kg", 3, formatting.mass, KG),
                        ("gpu_hours", 4, formatting.number, HOURS),
                    ],
                    e,
                    "API experiment",
                )
            big = section(page, "What the period's emissions amount to").find(
                lambda e: e.has_class("big")
            )
            led.shows(
                f"{where} 'What the period's emissions amount to'",
                big.text() if big else None,
                "API project emissions_kg",
                s["emissions_kg"],
                KG,
                formatting.mass,
            )
            self.check_last_run(where, page, pid)
            self.check_where_table(where, page, s)
            whatif = re.search(
                r"The period's (.+?) of IT energy emitted (.+?)\. The same energy",
                section(page, "Had this been run elsewhere").text(),
            )
            if s["energy_kwh"] > 0:
                led.shows(
                    f"{where} what-if energy",
                    whatif.group(1) if whatif else None,
                    "API project energy_kwh",
                    s["energy_kwh"],
                    KWH,
                    formatting.energy,
                )
                led.shows(
                    f"{where} what-if emissions",
                    whatif.group(2) if whatif else None,
                    "API project emissions_kg",
                    s["emissions_kg"],
                    KG,
                    formatting.mass,
                )
            sums, _ = chart_sums(figure(page, "time"))
            led.equal(
                f"{where} emissions chart",
                "sum of bars",
                sum(sums.values()),
                "API project emissions_kg",
                s["emissions_kg"],
                KG,
            )
            by_zone: dict[str, float] = defaultdict(float)
            for z in s["by_zone"]:
                by_zone[z["zone"]] += z["emissions_kg"]
            for zone, kg in by_zone.items():
                if zone in sums:
                    led.equal(
                        f"{where} emissions chart",
                        f"sum of {zone} bars",
                        sums[zone],
                        f"API by_zone {zone} emissions_kg",
                        kg,
                        2 * KG,
                    )

    def check_last_run(self, where: str, page: Element, pid: str) -> None:
        """ "Last run, next to the project total": the newest run and the all-time totals
        (all of which lie in the period)."""
        led = self.ledger
        runs = [r for e in self.experiments[pid] for r in self.runs[e["id"]]]
        if not runs:
            return
        last = max(runs, key=lambda r: r["started_at"])
        card = section(page, "Last run, next to the project total")
        rows = {row.cells[0]: row for row in table_rows(card)}
        for label, name, fmt, half in (
            ("Energy (IT)", "energy_kwh", formatting.energy, KWH),
            ("Emissions", "emissions_kg", formatting.mass, KG),
            ("GPU-hours", "gpu_hours", formatting.number, HOURS),
        ):
            row = rows.get(label)
            if row is None:
                led.same(f"{where} last run", f"row {label!r}", None, "expected", "a row")
                continue
            led.shows(
                f"{where} last run {label}",
                row.cells[1].removesuffix(" GPU-h"),
                f"API run {last['run_key']} {name}",
                last[name],
                half,
                fmt,
            )
            led.shows(
                f"{where} project all time {label}",
                row.cells[2].removesuffix(" GPU-h"),
                f"API project {name}",
                self.all_time[pid][name],
                half,
                fmt,
            )
        link = card.find(lambda e: e.tag == "a" and "/runs/" in e.attrs.get("href", ""))
        led.same(
            f"{where} last run",
            "link",
            uuid_in(link.attrs["href"]) if link else None,
            "API newest run",
            last["id"],
        )
        count = re.search(r"([\d,]+) runs? in all", card.text())
        led.same(
            f"{where} last run",
            "runs in all",
            count.group(1) if count else None,
            "API project run_count",
            f"{len(runs):,}",
        )

    def check_where_table(self, where: str, page: Element, s: dict[str, Any]) -> None:
        """ "Where the infrastructure runs": rows per zone, provider and region, added up
        per zone and provider against the summary's ``by_zone``."""
        led = self.ledger
        shown: dict[tuple[str, str], list[str]] = defaultdict(list)
        for row in table_rows(section(page, "Where the infrastructure runs")):
            zone = re.search(r"\(([A-Z0-9-]+)\)", row.cells[0])
            provider = "" if row.cells[1] == formatting.MISSING else row.cells[1].split(" ")[0]
            shown[(zone.group(1) if zone else row.cells[0], provider)] += [
                row.cells[2],
                row.cells[3],
            ]
        api = {(z["zone"], z["cloud_provider"]): z for z in s["by_zone"]}
        led.same(
            f"{where} where table", "zones and providers", sorted(shown), "API by_zone", sorted(api)
        )
        for key, texts in shown.items():
            z = api.get(key)
            if z is None:
                continue
            for name, texts_of in (("energy_kwh", texts[0::2]), ("emissions_kg", texts[1::2])):
                readings = [read_shown(t) for t in texts_of]
                led.equal(
                    f"{where} where table {key}",
                    f"sum of shown {name}",
                    sum(r.value for r in readings),
                    f"API by_zone {name}",
                    z[name],
                    sum(r.half for r in readings) + KWH,
                )

    def check_experiment_pages(self) -> None:
        led = self.ledger
        for pid in self.summary:
            for e in self.experiments[pid]:
                page = get_page(self.reader, f"{self.o}/experiments/{e['id']}/")
                where = f"experiment page {e['name']} ({e['id'][:8]})"
                cards = stat_cards(page)
                led.same(
                    where,
                    "card run_count",
                    cards.get("run_count"),
                    "API experiment run_count",
                    str(e["run_count"]),
                )
                self.cards(
                    where, {k: v for k, v in cards.items() if k != "run_count"}, e, "API experiment"
                )
                rows = {uuid_in(r.href): r for r in table_rows(section(page, "Runs"))}
                for r in self.runs[e["id"]]:
                    row = rows.get(r["id"])
                    w = f"{where} runs table, {r['run_key']}"
                    if row is None:
                        led.same(w, "row", None, "run energy_kwh", r["energy_kwh"])
                        continue
                    started = datetime.fromisoformat(r["started_at"]).astimezone(UTC)
                    led.same(
                        w,
                        "started",
                        row.cells[2],
                        "API run started_at",
                        f"{started:%Y-%m-%d %H:%M}",
                    )
                    led.shows_duration(
                        f"{w} duration", row.cells[3], "API run duration_s", r["duration_s"]
                    )
                    self.cells(
                        w,
                        row,
                        [
                            ("energy_kwh", 4, formatting.energy, KWH),
                            ("emissions_kg", 5, formatting.mass, KG),
                        ],
                        r,
                        "API run",
                    )

    def check_run_pages(self) -> None:
        led = self.ledger
        for r in self.sampled_runs():
            page = get_page(self.reader, f"{self.o}/runs/{r['id']}/")
            where = f"run page {r['run_key']} ({r['id'][:8]})"
            shown = data_numbers(page)
            led.shows(
                f"{where} energy",
                shown.get("energy"),
                "API run energy_kwh",
                r["energy_kwh"],
                KWH,
                formatting.energy,
            )
            led.shows(
                f"{where} facility_energy",
                shown.get("facility_energy"),
                "API run facility_energy_kwh",
                r["facility_energy_kwh"],
                KWH,
                formatting.energy,
            )
            led.shows(
                f"{where} emissions",
                shown.get("emissions"),
                "API run emissions_kg",
                r["emissions_kg"],
                KG,
                formatting.mass,
            )
            led.shows(
                f"{where} gpu_hours",
                shown.get("gpu_hours"),
                "API run gpu_hours",
                r["gpu_hours"],
                HOURS,
                formatting.number,
            )
            led.shows_duration(
                f"{where} duration", shown.get("duration"), "API run duration_s", r["duration_s"]
            )
            led.same(
                where,
                "measurements",
                shown.get("measurements"),
                "API run measurement_count",
                f"{r['measurement_count']:,}",
            )
            head = page.find(lambda e: e.has_class("page-head"))
            started = datetime.fromisoformat(r["started_at"]).astimezone(UTC)
            text = head.text() if head else ""
            led.same(
                where,
                "started",
                re.search(r"started (\S+ \S+) UTC", text)[1] if "started " in text else None,
                "API run started_at",
                f"{started:%Y-%m-%d %H:%M:%S}",
            )
            if r["ended_at"]:
                ended = datetime.fromisoformat(r["ended_at"]).astimezone(UTC)
                led.same(
                    where,
                    "ended",
                    re.search(r"ended (\S+ \S+) UTC", text)[1] if "ended " in text else None,
                    "API run ended_at",
                    f"{ended:%Y-%m-%d %H:%M:%S}",
                )
            live = get_json(self.reader, f"{self.o}/runs/{r['id']}/live.json")
            led.same(
                where, "live.json numbers", live["numbers"], "the page's data-number spans", shown
            )
            methods: dict[str, list[str]] = defaultdict(list)
            for row in table_rows(
                page.find(lambda e: e.attrs.get("id") == "methods") or Element("x", {})
            ):
                methods[row.cells[0]].append(row.cells[2])
            for comp in ("cpu", "gpu", "ram"):
                readings = [read_shown(t) for t in methods.get(comp.upper(), [])]
                api_kwh = r[f"{comp}_energy_kwh"]
                if readings or api_kwh:
                    led.equal(
                        f"{where} methods table {comp.upper()}",
                        "sum of shown energy",
                        sum(x.value for x in readings),
                        f"API run {comp}_energy_kwh",
                        api_kwh,
                        sum(x.half for x in readings) + KWH,
                    )
            self.share(f"{where} measured_share", shown.get("measured_share"), "API run", r)

    def cards(self, where: str, cards: dict[str, str], api: dict[str, Any], source: str) -> None:
        """The four headline cards (energy, emissions, runs, GPU-hours) against ``api``."""
        led = self.ledger
        led.shows(
            f"{where} card energy_kwh",
            cards.get("energy_kwh"),
            f"{source} energy_kwh",
            api["energy_kwh"],
            KWH,
            formatting.energy,
        )
        led.shows(
            f"{where} card emissions_kg",
            cards.get("emissions_kg"),
            f"{source} emissions_kg",
            api["emissions_kg"],
            KG,
            formatting.mass,
        )
        led.shows(
            f"{where} card gpu_hours",
            cards.get("gpu_hours"),
            f"{source} gpu_hours",
            api["gpu_hours"],
            HOURS,
            formatting.number,
        )
        if "run_count" in cards:
            led.same(
                where,
                "card run_count",
                cards["run_count"],
                f"{source} run_count",
                f"{api['run_count']:,}",
            )

    def share(
        self,
        where: str,
        text: str | None,
        source: str,
        api: dict[str, Any],
        missing: str = formatting.MISSING,
    ) -> None:
        """A measured share shown as a percentage: measured over IT energy, or the "missing"
        mark where there is no energy to take a share of."""
        energy = api["energy_kwh"]
        if not energy:
            self.ledger.same(
                where, "measured share", text, f"{source} energy_kwh = 0, shown as", missing
            )
            return
        # Both energies carry the API's rounding, which moves their ratio by this much.
        slack = KWH * (1 + api["measured_energy_kwh"] / energy) / energy
        self.ledger.shows(
            where,
            text,
            f"{source} measured / IT energy",
            api["measured_energy_kwh"] / energy,
            slack,
            formatting.percent,
        )

    def cells(
        self,
        where: str,
        row: Row,
        columns: list[tuple[str, int, Callable[[float], str], float]],
        api: dict[str, Any],
        source: str,
    ) -> None:
        for name, index, fmt, half in columns:
            self.ledger.shows(
                f"{where} {name}", row.cells[index], f"{source} {name}", api[name], half, fmt
            )

    # -- the report ------------------------------------------------------------------------

    def check_report(self) -> None:
        report = generate_report(
            self.writer, str(self.org.uuid), self.first_day, self.last_day, self.capture
        )
        files = read_report(self.writer, report)
        self.check_report_json(files)
        self.check_report_csv(files)
        self.check_report_xlsx(files)
        self.check_report_pdf(files)

    def check_report_json(self, files: ReportFiles) -> None:
        led = self.ledger
        data = files.json
        org = self.org_api
        where = "report JSON"
        led.same(where, "period.to_date", data["period"]["to_date"], "a finished period", False)
        led.same(
            where,
            "period.description",
            data["period"]["description"],
            "the overview's range",
            self.page_range,
        )
        month_points = get_json(
            self.reader, f"/api/v1/organisations/{self.org.uuid}/series?{self.range}&bucket=month"
        )["points"]
        months: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for p in month_points:
            for name in ("energy_kwh", "emissions_kg"):
                months[p["t"][:7]][name] += p[name]
        led.same(
            where,
            "monthly months",
            [m["month"] for m in data["monthly"]],
            "API month buckets",
            sorted(months),
        )
        for m in data["monthly"]:
            for name in ("energy_kwh", "emissions_kg"):
                led.equal(
                    f"{where} monthly {m['month']}",
                    name,
                    m[name],
                    f"API month series {name}",
                    months[m["month"]][name],
                    (len(self.summary) + 1) * USAGE[name],
                )
        led.same(
            where,
            "period.data_start",
            data["period"]["data_start"],
            "period start",
            self.start.isoformat(),
        )
        led.same(
            where, "period.data_end", data["period"]["data_end"], "period end", self.end.isoformat()
        )
        for name, half in USAGE.items():
            led.equal(
                where,
                f"totals.{name}",
                data["totals"][name],
                f"API organisation {name}",
                org[name],
                half,
            )
        for name in COUNTS:
            led.same(
                where, f"totals.{name}", data["totals"][name], f"API organisation {name}", org[name]
            )
        s = data["summary"]
        for key, api_name, place in (
            ("energy_mwh", "energy_kwh", "mwh"),
            ("facility_energy_mwh", "facility_energy_kwh", "mwh"),
            ("location_t", "emissions_kg", "t"),
        ):
            led.equal(
                where,
                f"summary.{key} x 1000",
                s[key] * 1000.0,
                f"API organisation {api_name}",
                org[api_name],
                500 * 10.0 ** -PLACES[place] + KWH,
            )
        led.same(
            where,
            "summary.run_count",
            s["run_count"],
            "API organisation run_count",
            org["run_count"],
        )
        for p in data["projects"]:
            api = self.summary.get(p["id"])
            w = f"{where} project {p['name']}"
            if api is None:
                led.same(w, "in the organisation", False, "expected", True)
                continue
            for name in (
                "energy_kwh",
                "facility_energy_kwh",
                "emissions_kg",
                "measured_energy_kwh",
                "gpu_hours",
            ):
                led.equal(w, name, p[name], f"API project summary {name}", api[name], USAGE[name])
            for name in COUNTS:
                led.same(w, name, p[name], f"API project summary {name}", api[name])
        led.same(
            where,
            "projects",
            sorted(p["id"] for p in data["projects"]),
            "API projects",
            sorted(self.summary),
        )
        monthly = data["monthly"]
        for name in ("energy_kwh", "emissions_kg"):
            led.equal(
                where,
                f"sum of monthly {name}",
                sum(m[name] for m in monthly),
                f"API organisation {name}",
                org[name],
                USAGE[name],
            )
        led.equal(
            where,
            "sum of zones' emissions_kg",
            sum(z["emissions_kg"] for z in data["zones"]),
            "API organisation emissions_kg",
            org["emissions_kg"],
            KG,
        )
        by_id = {r["id"]: r for rs in self.runs.values() for r in rs}
        expected_top = sorted(by_id.values(), key=lambda r: (-r["emissions_kg"], r["started_at"]))[
            : len(data["top_runs"])
        ]
        led.same(
            where,
            "top_runs",
            [t["id"] for t in data["top_runs"]],
            "the API's runs with the most emissions",
            [r["id"] for r in expected_top],
        )
        for t in data["top_runs"]:
            r = by_id.get(t["id"])
            if r is not None:
                for name in ("energy_kwh", "emissions_kg", "gpu_hours"):
                    led.equal(
                        f"{where} top run {r['run_key']}",
                        name,
                        t[name],
                        f"API run {name}",
                        r[name],
                        USAGE[name],
                    )
        gaps = data["gaps"]
        world = [
            z for s in self.summary.values() for z in s["by_zone"] if z["zone"] == carbon.WORLD_ZONE
        ]
        led.equal(
            where,
            "gaps.location_unknown_energy_kwh",
            gaps["location_unknown_energy_kwh"],
            "API sum of WORLD by_zone energy_kwh",
            sum(z["energy_kwh"] for z in world),
            (len(world) + 1) * KWH,
        )
        statuses = [r["status"] for r in by_id.values()]
        led.same(
            where,
            "gaps.lost_run_count",
            gaps["lost_run_count"],
            "API lost runs",
            statuses.count("lost"),
        )
        led.same(
            where,
            "gaps.running_run_count",
            gaps["running_run_count"],
            "API running runs",
            statuses.count("running"),
        )
        led.equal(
            where,
            "gaps.imported_energy_kwh",
            gaps["imported_energy_kwh"],
            "API organisation imported_energy_kwh",
            org["imported_energy_kwh"],
            KWH,
        )
        zones: dict[tuple[str, str], float] = defaultdict(float)
        for z in data["zones"]:
            zones[(z["zone"], z["cloud_provider"])] += z["emissions_kg"]
        api_zones: dict[tuple[str, str], float] = defaultdict(float)
        for s in self.summary.values():
            for z in s["by_zone"]:
                api_zones[(z["zone"], z["cloud_provider"])] += z["emissions_kg"]
        led.same(where, "zones", sorted(zones), "API by_zone of the projects", sorted(api_zones))
        for key, kg in api_zones.items():
            led.equal(
                f"{where} zone {key}",
                "emissions_kg",
                zones.get(key, 0.0),
                "API sum of project by_zone emissions_kg",
                kg,
                (len(self.summary) + 1) * KG,
            )
        led.equal(
            where,
            "esrs_e1_6 total_location_kg",
            data["esrs_e1_6"]["total_location_kg"],
            "API organisation emissions_kg",
            org["emissions_kg"],
            KG,
        )

    def check_report_csv(self, files: ReportFiles) -> None:
        led = self.ledger
        rows = files.csv_rows
        where = "report CSV"
        fields = (
            "energy_kwh",
            "facility_energy_kwh",
            "emissions_kg",
            "measured_energy_kwh",
            "imported_energy_kwh",
            "gpu_hours",
        )
        for name in fields:
            led.equal(
                where,
                f"sum of rows' {name}",
                sum(float(r[name]) for r in rows),
                f"API organisation {name}",
                self.org_api[name],
                USAGE[name],
            )
        led.same(
            where,
            "sum of rows' measurement_count",
            sum(int(r["measurement_count"]) for r in rows),
            "API organisation measurement_count",
            self.org_api["measurement_count"],
        )
        for pid, s in self.summary.items():
            mine = [r for r in rows if r["project_id"] == pid]
            for name in fields:
                led.equal(
                    f"{where} project {pid[:8]}",
                    f"sum of rows' {name}",
                    sum(float(r[name]) for r in mine),
                    f"API project summary {name}",
                    s[name],
                    USAGE[name],
                )
        led.same(
            where,
            "rows to date",
            sorted({r["to_date"] for r in rows}),
            "a finished period",
            ["False"],
        )

    def check_report_xlsx(self, files: ReportFiles) -> None:
        led = self.ledger
        org = self.org_api
        where = "report XLSX Summary"
        mwh_half = 500 * 10.0 ** -PLACES["mwh"]
        t_half = 500 * 10.0 ** -PLACES["t"]
        for label, name, half in (
            ("IT energy (MWh)", "energy_kwh", mwh_half),
            ("Facility energy (MWh)", "facility_energy_kwh", mwh_half),
            ("Emissions, location-based (t CO2e)", "emissions_kg", t_half),
        ):
            value = files.summary.get(label)
            led.equal(
                where,
                f"{label!r} x 1000",
                (value or 0.0) * 1000.0,
                f"API organisation {name}",
                org[name],
                half + KWH,
            )
        led.same(
            where,
            "'Runs started'",
            files.summary.get("Runs started"),
            "API organisation run_count",
            org["run_count"],
        )
        led.equal(
            where,
            "'GPU-hours'",
            files.summary.get("GPU-hours") or 0.0,
            "API organisation gpu_hours",
            org["gpu_hours"],
            0.5 * 10.0 ** -PLACES["hours"] + HOURS,
        )
        names = {p["id"]: p["name"] for p in self.projects}
        for pid, s in self.summary.items():
            row = files.projects.get(names[pid])
            w = f"report XLSX Projects, {names[pid]}"
            if row is None:
                led.same(w, "row", None, "project energy_kwh", s["energy_kwh"])
                continue
            led.same(w, "Runs", row[2], "API project run_count", s["run_count"])
            for index, name, half in (
                (3, "energy_kwh", mwh_half),
                (4, "facility_energy_kwh", mwh_half),
                (5, "emissions_kg", t_half),
                (6, "measured_energy_kwh", mwh_half),
            ):
                led.equal(
                    w,
                    f"column {index + 1} x 1000",
                    row[index] * 1000.0,
                    f"API project {name}",
                    s[name],
                    half + KWH,
                )
            led.equal(
                w,
                "GPU-hours",
                row[7],
                "API project gpu_hours",
                s["gpu_hours"],
                0.5 * 10.0 ** -PLACES["hours"] + HOURS,
            )

    def check_report_pdf(self, files: ReportFiles) -> None:
        """The PDF's summary rows and its table by project, read back from its text (the
        text has one table cell per line)."""
        led = self.ledger
        org = self.org_api
        cells = [" ".join(line.split()) for line in files.pdf_text.splitlines()]
        cells = [c for c in cells if c]
        where = "report PDF"

        def after(label: str) -> str | None:
            return cells[cells.index(label) + 1] if label in cells[:-1] else None

        for label, name, fmt in (
            ("IT energy (MWh)", "energy_kwh", mwh),
            ("Facility energy incl. PUE (MWh)", "facility_energy_kwh", mwh),
            ("Location-based (t CO2e)", "emissions_kg", tonnes),
        ):
            led.shows(
                f"{where} summary {label!r}",
                after(label),
                f"API organisation {name}",
                org[name],
                KWH,
                fmt,
                scale=1000.0,
            )
        runs = re.search(
            r"([\d,]+) runs started in the period; ([\d,.]+) GPU-hours; ([\d,]+) measurements",
            " ".join(cells),
        )
        led.same(
            where,
            "runs started",
            runs.group(1) if runs else None,
            "API organisation run_count",
            f"{org['run_count']:,}",
        )
        led.shows(
            f"{where} GPU-hours",
            runs.group(2) if runs else None,
            "API organisation gpu_hours",
            org["gpu_hours"],
            HOURS,
        )
        led.same(
            where,
            "measurements",
            runs.group(3) if runs else None,
            "API organisation measurement_count",
            f"{org['measurement_count']:,}",
        )
        header = ["Project", "Scope", "Runs", "IT MWh", "Facility MWh", "t CO2e (loc.)", "Measured"]
        found: dict[str, list[str]] = {}
        for i in range(len(cells) - len(header)):
            if cells[i : i + len(header)] == header:
                j = i + len(header)
                while j + len(header) <= len(cells) and cells[j] != "Total":
                    found[cells[j]] = cells[j : j + len(header)]
                    j += len(header)
                # The total row has no scope, and an empty cell yields no line.
                found["Total"] = ["Total", "", *cells[j + 1 : j + len(header) - 1]]
        names = {p["id"]: p["name"] for p in self.projects}
        rows = [(names[pid], s) for pid, s in self.summary.items()] + [("Total", org)]
        for name, api in rows:
            row = found.get(name)
            w = f"{where} by project, {name}"
            if row is None:
                led.same(w, "row", None, "API energy_kwh", api["energy_kwh"])
                continue
            led.same(w, "runs", row[2], "API run_count", f"{api['run_count']:,}")
            for index, field, fmt in (
                (3, "energy_kwh", mwh),
                (4, "facility_energy_kwh", mwh),
                (5, "emissions_kg", tonnes),
            ):
                led.shows(
                    f"{w} {header[index]}",
                    row[index],
                    f"API {field}",
                    api[field],
                    KWH,
                    fmt,
                    scale=1000.0,
                )
            self.share(f"{w} measured", row[6], "API", api, missing="n/a")

    def run(self) -> Ledger:
        self.check_the_period_holds_every_interval()
        self.read_api()
        self.check_api_totals()
        self.check_series()
        self.check_hours_against_measurements()
        self.check_runs()
        self.check_overview()
        self.check_project_pages()
        self.check_experiment_pages()
        self.check_run_pages()
        self.check_report()
        return self.ledger


def data_days(org: Organisation) -> tuple[date, date]:
    """The first and last day that hold an interval of the organisation."""
    span = Measurement.objects.filter(run__project__organisation=org).aggregate(
        first=Min("start"), last=Max("end")
    )
    last = span["last"] - timedelta(microseconds=1)
    return span["first"].astimezone(UTC).date(), last.astimezone(UTC).date()


def test_pages_api_and_reports_agree_on_the_seeded_demo(
    db: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    with monkeypatch.context() as m:
        # The demo fills the months up to "now": generated as of DEMO_NOW, its period ends
        # before today and is finished.
        m.setattr("django.utils.timezone.now", lambda: DEMO_NOW)
        call_command(
            "seed_demo", "--runs", str(DEMO_RUNS), "--seed", "7", stdout=open("/dev/null", "w")
        )
    org = Organisation.objects.get(name="Demo Lab")
    first, last = data_days(org)
    reader = Client()
    reader.force_login(User.objects.get(username="demo"))
    ledger = Reconciliation(
        org, reader, reader, first, last, django_capture_on_commit_callbacks, sample=10
    ).run()
    if ledger.problems:
        pytest.fail(ledger.report(), pytrace=False)
    assert ledger.checks > 1000


def test_pages_api_and_reports_agree_on_random_data(
    cast: Cast, django_capture_on_commit_callbacks: Any
) -> None:
    posted = post_random_data(cast, RANDOM_SEED, date(2026, 10, 5), days=6)
    first, last = data_days(cast.org)
    assert posted.first_day <= first and last <= posted.last_day
    ledger = Reconciliation(
        cast.org,
        cast.client_for("viewer"),
        cast.client_for("member"),
        posted.first_day,
        posted.last_day,
        django_capture_on_commit_callbacks,
        sample=12,
    ).run()
    if ledger.problems:
        pytest.fail(ledger.report(), pytrace=False)
    # What was posted (each interval once, though a batch was sent twice) is what is counted.
    org = get_json(cast.client_for("viewer"), f"/api/v1/organisations/{cast.org.uuid}")
    assert org["measurement_count"] == posted.measurement_count
    assert org["energy_kwh"] == pytest.approx(posted.energy_kwh, abs=KWH)
