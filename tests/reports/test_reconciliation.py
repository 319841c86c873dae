"""One reconciliation: on the seeded demo and on random data, the overview, project,
experiment and run pages, the API's summaries and series, and all four report formats
agree to the displayed precision.

The period is a finished custom range of whole days that holds every interval of the
data, so the two ways figures choose what they count agree: usage (``UsageHour``) is
counted by time, runs in the period in which they started. Every comparison is made and
every disagreement is listed (page or format, field, both values) before the test fails.

What "agree" means for each pair:

* two API figures: within the API's rounding (``api.precision``: 6 decimals of kWh and
  kg, 4 of hours) of each term summed, plus float noise (1e-9 relative);
* an API series and the raw measurements: each bucket holds the energy and emissions of
  every interval split across the hours it overlaps in proportion to time;
* a page and the API: the displayed string, read back, stands for the API's figure to
  the digits it shows (``"1.23 MWh"`` is 1,225 to 1,235 kWh);
* a report and the API: the same at the report's rounding (``reports.rounding.PLACES``),
  and to the API's rounding where a format keeps full precision (JSON, CSV).
"""

from __future__ import annotations

import math
import random
import re
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db.models import F, Max, Min
from django.test import Client

import carbon
from api.models import Measurement, Organisation, Run, UsageHour
from dashboards import formatting
from reports.formatting import mwh, tonnes
from reports.rounding import PLACES
from tests.cast import Cast, api, measurement
from tests.reports.reconcile_data import (
    HALF,
    KG,
    KWH,
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

USAGE = (
    "energy_kwh",
    "facility_energy_kwh",
    "emissions_kg",
    "measured_energy_kwh",
    "imported_energy_kwh",
    "estimated_energy_kwh",
    "gpu_hours",
    "measurement_count",
)
RUN_SUMS = ("energy_kwh", "emissions_kg", "gpu_hours", "measured_energy_kwh", "measurement_count")
SERIES = ("energy_kwh", "emissions_kg", "gpu_hours", "measured_energy_kwh", "measurement_count")
# How the pages write each quantity (dashboards.formatting).
FORMATS: dict[str, Callable[[float], str]] = {
    "energy_kwh": formatting.energy,
    "facility_energy_kwh": formatting.energy,
    "emissions_kg": formatting.mass,
    "gpu_hours": lambda v: f"{formatting.number(v)} GPU-h",
}
# The seeded demo is generated as if it were this moment, so that it lies in a finished
# period (the demo fills the time up to "now"); 100 runs keep the test fast (320: 21 s).
DEMO_NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
DEMO_RUNS = 100
RANDOM_SEED = 29
HOUR = timedelta(hours=1)


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


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def chart_sums(fig: dict[str, Any]) -> tuple[dict[str, float], list[datetime]]:
    """Per trace of a stacked-bar figure, the sum of its bars in kg; and every bar's x."""
    unit = re.search(r"\((.+)\)", fig["layout"]["yaxis"]["title"]["text"])
    scale = SCALE[unit.group(1)] if unit else 1.0
    sums: dict[str, float] = defaultdict(float)
    xs: list[datetime] = []
    for trace in fig["data"]:
        sums[trace["name"]] += sum(trace["y"]) * scale
        xs.extend(utc(x) for x in trace["x"])
    return dict(sums), xs


def matched(pattern: str, text: str | None) -> str | None:
    m = re.search(pattern, text or "")
    return m.group(1) if m else None


def para(container: Element, needle: str) -> str | None:
    """The text of the first paragraph in ``container`` that contains ``needle`` (not the
    whole container's, which holds its charts' JSON too)."""
    p = container.find(lambda e: e.tag == "p" and needle in e.text())
    return p.text() if p else None


def hours_of(start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    """The UTC hours ``[start, end)`` overlaps and the share of its time in each, as the
    methodology states it (an interval of no length lies in its start hour)."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    length = (end - start).total_seconds()
    if length <= 0:
        return [(hour, 1.0)]
    out = []
    while hour < end:
        out.append((hour, (min(end, hour + HOUR) - max(start, hour)).total_seconds() / length))
        hour += HOUR
    return out


class Reconciliation:
    """Everything the pages, the API and the report say about one organisation over one
    finished period, compared pairwise into a :class:`Ledger`."""

    def __init__(
        self,
        org: Organisation,
        reader: Client,
        writer: Client,
        days: tuple[date, date],
        capture: Any,
        sample: int,
    ) -> None:
        self.org = org
        self.reader = reader
        self.writer = writer
        self.first_day, self.last_day = days
        self.capture = capture
        self.sample = sample
        self.start = midnight(self.first_day)
        self.end = midnight(self.last_day + timedelta(days=1))
        self.range = f"start={self.start:%Y-%m-%dT%H:%M:%SZ}&end={self.end:%Y-%m-%dT%H:%M:%SZ}"
        self.period = f"period=custom&start={self.first_day}&end={self.last_day}"
        self.o = f"/o/{org.uuid}"
        self.led = Ledger()
        self.page_range: str | None = None

    def run(self) -> Ledger:
        self.check_the_period_holds_every_interval()
        self.read_api()
        self.check_the_api_adds_up()
        self.check_the_series_add_up()
        self.check_the_series_against_the_measurements()
        self.check_runs()
        self.check_overview()
        self.check_project_pages()
        self.check_experiment_pages()
        self.check_run_pages()
        files = read_report(
            self.writer,
            generate_report(
                self.writer, str(self.org.uuid), self.first_day, self.last_day, self.capture
            ),
        )
        self.check_report_json(files)
        self.check_report_csv(files)
        self.check_report_xlsx(files)
        self.check_report_pdf(files)
        return self.led

    # -- the data and the API --------------------------------------------------------------

    def check_the_period_holds_every_interval(self) -> None:
        mine = Measurement.objects.filter(run__project__organisation=self.org)
        span = mine.aggregate(first=Min("start"), last=Max("end"))
        assert span["first"] is not None, "no data"
        assert self.start <= span["first"] and span["last"] <= self.end, (span, self.start)

    def read_api(self) -> None:
        c = self.reader
        self.org_api = get_json(c, f"/api/v1/organisations/{self.org.uuid}?{self.range}")
        self.projects = {
            p["id"]: p
            for p in get_json(c, "/api/v1/projects")["results"]
            if p["organisation_id"] == str(self.org.uuid)
        }
        self.summary: dict[str, dict[str, Any]] = {}
        self.all_time: dict[str, dict[str, Any]] = {}
        self.experiments: dict[str, list[dict[str, Any]]] = {}
        self.runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for pid in self.projects:
            self.summary[pid] = get_json(c, f"/api/v1/projects/{pid}/summary?{self.range}")
            self.all_time[pid] = get_json(c, f"/api/v1/projects/{pid}")
            listed = get_json(c, f"/api/v1/experiments?project={pid}")["results"]
            self.experiments[pid] = [get_json(c, f"/api/v1/experiments/{e['id']}") for e in listed]
            runs = get_json(c, f"/api/v1/runs?project={pid}&limit=1000")
            assert runs["next"] is None
            for r in runs["results"]:
                self.runs[r["experiment_id"]].append(r)
        self.all_runs = {r["id"]: r for rs in self.runs.values() for r in rs}

    def name(self, pid: str) -> str:
        return str(self.projects[pid]["name"])

    def check_the_api_adds_up(self) -> None:
        """Projects add up to the organisation, experiments to their project, runs to
        their experiment and to the organisation; every run started in the period."""
        led, org = self.led, self.org_api
        summaries = list(self.summary.values())
        led.adds_up("organisation", "project summaries", summaries, "organisation", org, USAGE)
        led.adds_up(
            "organisation", "project summaries", summaries, "organisation", org, ["run_count"]
        )
        by_project = {r["project_id"]: r for r in org["by_project"]}
        led.same(
            "organisation",
            "by_project",
            sorted(by_project),
            "projects with usage",
            sorted(pid for pid, s in self.summary.items() if s["measurement_count"]),
        )
        for pid, s in self.summary.items():
            where = f"project {self.name(pid)}"
            if pid in by_project:
                led.agree(
                    where,
                    "organisation by_project",
                    by_project[pid],
                    "summary",
                    s,
                    (*USAGE[:5], "gpu_hours", "measurement_count"),
                )
            led.adds_up(
                where,
                "by_zone rows",
                s["by_zone"],
                "summary",
                s,
                ("energy_kwh", "facility_energy_kwh", "emissions_kg", "measurement_count"),
            )
            led.agree(
                where, "all-time", self.all_time[pid], "period summary", s, (*USAGE, "run_count")
            )
            exps = self.experiments[pid]
            led.adds_up(where, "experiments", exps, "summary", s, (*RUN_SUMS, "run_count"))
            for e in exps:
                w = f"experiment {e['name']} of {self.name(pid)}"
                runs = self.runs[e["id"]]
                led.same(w, "runs listed", len(runs), "run_count", e["run_count"])
                by_status: dict[str, int] = defaultdict(int)
                for r in runs:
                    by_status[r["status"]] += 1
                led.same(
                    w,
                    "runs listed by status",
                    dict(by_status),
                    "runs_by_status",
                    e["runs_by_status"],
                )
                led.adds_up(w, "runs", runs, "experiment", e, RUN_SUMS)
        runs = list(self.all_runs.values())
        led.same("organisation", "runs listed", len(runs), "run_count", org["run_count"])
        names = (*RUN_SUMS, "facility_energy_kwh", "estimated_energy_kwh")
        led.adds_up("organisation", "runs", runs, "organisation", org, names)
        late = [r["run_key"] for r in runs if not self.start <= utc(r["started_at"]) < self.end]
        led.empty("organisation", "runs that did not start in the period", late)

    def check_the_series_add_up(self) -> None:
        """Hourly, daily, weekly and monthly series add up to the totals, for the
        organisation and per project; every bucket overlaps the period and the buckets
        tile it; a point's power times its length is its energy."""
        led = self.led
        seconds = (self.end - self.start).total_seconds()
        longest = {
            "hour": HOUR,
            "day": timedelta(days=1),
            "week": timedelta(days=7),
            "month": timedelta(days=31),
        }
        for bucket in ("hour", "day", "week", "month"):
            path = f"/api/v1/organisations/{self.org.uuid}/series?{self.range}&bucket={bucket}"
            points = get_json(self.reader, path)["points"]
            where = f"organisation {bucket} series"
            led.adds_up(where, "points", points, "organisation", self.org_api, SERIES)
            # A week or month starts where the week or month does, before the period maybe.
            outside = sorted(
                {
                    p["t"]
                    for p in points
                    if not self.start - longest[bucket] < utc(p["t"]) < self.end
                }
            )
            led.empty(where, "points outside the period", outside)
            for pid, s in self.summary.items():
                mine = [p for p in points if p["project"] == self.name(pid)]
                w = f"{where}, {self.name(pid)}"
                led.adds_up(w, "points", mine, "summary", s, SERIES)
                if mine:
                    led.equal(
                        w,
                        "sum of bucket_s",
                        sum(p["bucket_s"] for p in mine),
                        "seconds in the period",
                        seconds,
                        len(mine) * HALF["bucket_s"],
                    )
        for pid, s in self.summary.items():
            for bucket in ("hour", "day"):
                path = f"/api/v1/projects/{pid}/series?{self.range}&bucket={bucket}"
                points = get_json(self.reader, path)["points"]
                where = f"project {self.name(pid)} {bucket} series"
                led.adds_up(where, "points", points, "summary", s, SERIES)
                led.equal(
                    where,
                    "sum of bucket_s",
                    sum(p["bucket_s"] for p in points),
                    "seconds in the period",
                    seconds,
                    len(points) * HALF["bucket_s"],
                )
                led.same(where, "first bucket", utc(points[0]["t"]), "period start", self.start)
                bad = [
                    p["t"]
                    for p in points
                    if not math.isclose(
                        p["power_w"] * p["bucket_s"] / 3.6e6,
                        p["energy_kwh"],
                        abs_tol=HALF["power_w"] * p["bucket_s"] / 3.6e6 + KWH,
                    )
                ]
                led.empty(where, "points whose power_w x bucket_s is not their energy", bad)

    def check_the_series_against_the_measurements(self) -> None:
        """Each hourly and daily bucket holds the energy and emissions used in it: every
        stored interval split across the hours it overlaps in proportion to time (the
        methodology's rule, computed here from the raw measurements), and each interval
        counted once, in the hour it starts. The summary's totals are those of its
        measurements (``duration_s`` and ``gpu_hours`` summed over every rank's intervals)."""
        for pid, summary in self.summary.items():
            want: dict[str, dict[datetime, dict[str, float]]] = {"hour": {}, "day": {}}
            rows = Measurement.objects.filter(run__project__uuid=pid).values_list(
                "start", "end", "cpu_energy_kwh", "gpu_energy_kwh", "ram_energy_kwh", "emissions_kg"
            )
            totals = Measurement.objects.filter(run__project__uuid=pid).values_list(
                "cpu_energy_kwh",
                "gpu_energy_kwh",
                "ram_energy_kwh",
                "emissions_kg",
                "duration_s",
                "gpu_count",
            )
            whole = {
                "energy_kwh": sum(c + g + r for c, g, r, *_ in totals),
                "emissions_kg": sum(t[3] for t in totals),
                "duration_s": sum(t[4] for t in totals),
                "gpu_hours": sum(t[4] * t[5] / 3600.0 for t in totals),
                "measurement_count": len(totals),
            }
            self.led.agree(
                f"project {self.name(pid)}",
                "measurements'",
                whole,
                "summary",
                summary,
                whole,
                terms=1,
            )
            for start, end, cpu, gpu, ram, kg in rows:
                for index, (hour, share) in enumerate(hours_of(start, end)):
                    for bucket, t in (("hour", hour), ("day", hour.replace(hour=0))):
                        cell = want[bucket].setdefault(t, defaultdict(float))
                        cell["energy_kwh"] += (cpu + gpu + ram) * share
                        cell["emissions_kg"] += kg * share
                        cell["measurement_count"] += 1 if index == 0 else 0
            for bucket, cells in want.items():
                path = f"/api/v1/projects/{pid}/series?{self.range}&bucket={bucket}"
                got = {utc(p["t"]): p for p in get_json(self.reader, path)["points"]}
                where = f"project {self.name(pid)} {bucket} series against its measurements"
                self.led.empty(
                    where, "buckets with usage but no point", sorted(set(cells) - set(got))
                )
                for name in ("energy_kwh", "emissions_kg", "measurement_count"):
                    bad = [
                        (f"{t:%Y-%m-%d %H:%M}", p[name], round(cells.get(t, {}).get(name, 0.0), 6))
                        for t, p in got.items()
                        if not math.isclose(
                            p[name],
                            cells.get(t, {}).get(name, 0.0),
                            rel_tol=1e-9,
                            abs_tol=2 * HALF[name],
                        )
                    ]
                    self.led.empty(
                        where, f"buckets whose {name} is not the measurements' (t, API, want)", bad
                    )

    def check_runs(self) -> None:
        """Each sampled run's answer is consistent in itself, with the run list, and with
        its series; the series follows the run's measurements."""
        led = self.led
        for r in self.sampled_runs():
            where = f"run {r['run_key']}"
            one = get_json(self.reader, f"/api/v1/runs/{r['id']}")
            led.agree(
                where,
                "detail",
                one,
                "list",
                r,
                (*RUN_SUMS, "duration_s", "facility_energy_kwh"),
                terms=0,
            )
            parts = [{"energy_kwh": one[f"{c}_energy_kwh"]} for c in ("cpu", "gpu", "ram")]
            led.adds_up(where, "components", parts, "run", one, ["energy_kwh"])
            led.equal(
                where,
                "energy_kwh x pue",
                one["energy_kwh"] * one["pue"],
                "facility_energy_kwh",
                one["facility_energy_kwh"],
                KWH * (1 + one["pue"]) + 5e-4 * one["energy_kwh"],
            )
            if one["facility_energy_kwh"]:
                led.equal(
                    where,
                    "emissions_kg x 1000 / facility_energy_kwh",
                    one["emissions_kg"] * 1000 / one["facility_energy_kwh"],
                    "intensity_g_per_kwh",
                    one["intensity_g_per_kwh"],
                    0.005
                    + 1000
                    * KG
                    * (1 + one["intensity_g_per_kwh"] / 1000)
                    / one["facility_energy_kwh"],
                )
            started, seconds = utc(one["started_at"]), one["duration_s"]
            if one["ended_at"]:
                led.equal(
                    where,
                    "started_at + duration_s",
                    (started - self.start).total_seconds() + seconds,
                    "ended_at",
                    (utc(one["ended_at"]) - self.start).total_seconds(),
                    2 * HALF["duration_s"],
                )
            series = get_json(self.reader, f"/api/v1/runs/{r['id']}/series")
            points = series["points"]
            if not points:
                led.same(where, "series points", 0, "measurement_count", one["measurement_count"])
                continue
            last = points[-1]
            led.equal(
                where,
                "series energy_kwh_cum at the end",
                last["energy_kwh_cum"],
                "energy_kwh",
                one["energy_kwh"],
                2 * KWH,
            )
            led.equal(
                where,
                "series emissions_kg_cum at the end",
                last["emissions_kg_cum"],
                "emissions_kg",
                one["emissions_kg"],
                2 * KG,
            )
            width = max(p["t_end"] - p["t"] for p in points)
            area = sum(p["power_w"] * (p["t_end"] - p["t"]) for p in points) / 3.6e6
            led.equal(
                where,
                "area under series power_w",
                area,
                "energy_kwh",
                one["energy_kwh"],
                len(points) * HALF["power_w"] * width / 3.6e6 + KWH,
            )
            ranks = series["ranks"]
            if ranks:
                bad = [
                    p["t"]
                    for i, p in enumerate(points)
                    if not math.isclose(
                        sum(rk[i]["power_w"] for rk in ranks.values()),
                        p["power_w"],
                        abs_tol=(len(ranks) + 1) * HALF["power_w"],
                    )
                ]
                led.empty(where, "buckets whose ranks' power does not add up to the run's", bad)
            self.check_run_series_against_measurements(where, r["id"], points)

    def check_run_series_against_measurements(
        self, where: str, run_id: str, points: list[dict[str, Any]]
    ) -> None:
        """The cumulative energy at the end of each bucket is the energy of the run's
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
                e if stop <= t else e * (t - start) / (stop - start)
                for start, stop, e in intervals
                if start < t
            )
            # t_end is rounded to the millisecond in the answer: allow what that moves.
            drift = sum(e / (stop - start) for start, stop, e in intervals if start < t < stop)
            if not math.isclose(
                p["energy_kwh_cum"],
                want,
                rel_tol=1e-9,
                abs_tol=2 * KWH + drift * HALF["duration_s"],
            ):
                bad.append((t, p["energy_kwh_cum"], round(want, 6)))
        self.led.empty(
            where,
            "points whose energy_kwh_cum is not the measurements' up to t_end (t_end, API, want)",
            bad,
        )

    def sampled_runs(self) -> list[dict[str, Any]]:
        """Runs looked at one by one: the edge cases the data was built with (named other
        than ``job-N`` or ``demo-N``), a few that did not finish, and a fixed sample."""
        runs = sorted(self.all_runs.values(), key=lambda r: r["run_key"])
        edge = [r for r in runs if not re.fullmatch(r"(job|demo)-\d+", r["run_key"])]
        odd = [r for r in runs if r["status"] != "finished" and r not in edge][:4]
        rest = [r for r in runs if r not in odd and r not in edge]
        return edge + odd + random.Random(1).sample(rest, min(self.sample, len(rest)))

    # -- pages -----------------------------------------------------------------------------

    def shows(
        self, where: str, text: str | None, source: str, api: dict[str, Any], name: str
    ) -> None:
        """A displayed figure of quantity ``name`` stands for the API's."""
        self.led.shows(
            f"{where} {name}", text, f"{source} {name}", api[name], HALF[name], FORMATS[name]
        )

    def cards(self, where: str, page: Element, source: str, api: dict[str, Any]) -> None:
        """The headline cards (energy, emissions, runs, GPU-hours) against ``api``."""
        cards = stat_cards(page)
        for name in ("energy_kwh", "emissions_kg", "gpu_hours"):
            self.shows(f"{where} card", cards.get(name), source, api, name)
        self.led.same(
            where,
            "card run_count",
            cards.get("run_count"),
            f"{source} run_count",
            f"{api['run_count']:,}",
        )

    def cells(
        self, where: str, row: Row, columns: dict[int, str], source: str, api: dict[str, Any]
    ) -> None:
        for index, name in columns.items():
            self.shows(
                where, row.cells[index] if index < len(row.cells) else None, source, api, name
            )

    def share(
        self,
        where: str,
        text: str | None,
        source: str,
        api: dict[str, Any],
        missing: str = formatting.MISSING,
    ) -> None:
        """A measured share shown as a percentage: measured over IT energy, or the missing
        mark where there is no energy to take a share of."""
        energy = api["energy_kwh"]
        if not energy:
            self.led.same(
                where, "measured share", text, f"{source} energy_kwh = 0, shown as", missing
            )
            return
        # Both energies carry the API's rounding, which moves their ratio by this much.
        slack = KWH * (1 + api["measured_energy_kwh"] / energy) / energy
        self.led.shows(
            where,
            text,
            f"{source} measured / IT energy",
            api["measured_energy_kwh"] / energy,
            slack,
            formatting.percent,
        )

    def check_figures(self, where: str, page: Element, api: dict[str, Any], *bars: str) -> None:
        """Horizontal bar charts of emissions by group add up to the emissions, and the
        donut of how the energy was obtained splits the energy as the API does."""
        for name in bars:
            fig = figure(page, name)
            unit = matched(r"\((.+)\)", fig["layout"]["xaxis"]["title"]["text"])
            total = sum(sum(trace["x"]) for trace in fig["data"]) * SCALE[unit or ""]
            self.led.equal(
                f"{where} {name} chart",
                "sum of bars",
                total,
                "API emissions_kg",
                api["emissions_kg"],
                KG,
            )
        fig = figure(page, "methods")
        parts: dict[str, float] = {}
        for trace in fig["data"]:
            unit = matched(r"\} (\S+) \(", trace["hovertemplate"]) or ""
            parts.update(
                {k: v * SCALE[unit] for k, v in zip(trace["labels"], trace["values"], strict=True)}
            )
        for label, name in (
            ("Measured (RAPL, NVML)", "measured_energy_kwh"),
            ("Imported from files", "imported_energy_kwh"),
            ("Estimated (TDP or constant model)", "estimated_energy_kwh"),
        ):
            self.led.equal(
                f"{where} methods chart",
                repr(label),
                parts.get(label, 0.0),
                f"API {name}",
                api[name],
                KWH,
            )

    def check_overview(self) -> None:
        led, org = self.led, self.org_api
        where = "overview"
        page = get_page(self.reader, f"{self.o}/?{self.period}")
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
        self.cards(where, page, "API organisation", org)
        card = section(page, "What the emissions amount to")
        big = card.find(lambda e: e.has_class("big"))
        self.shows(
            f"{where} 'What the emissions amount to'",
            big.text() if big else None,
            "API organisation",
            org,
            "emissions_kg",
        )
        facility = para(card, "drawn by the facilities")
        self.shows(
            f"{where} 'drawn by the facilities'",
            matched(r"From (.+?) drawn by", facility),
            "API organisation",
            org,
            "facility_energy_kwh",
        )
        measured = para(section(page, "Measured or estimated"), "of the IT energy")
        self.share(
            f"{where} 'read from hardware counters'",
            matched(r"^(.+? %) of the IT", measured),
            "API organisation",
            org,
        )
        world = sum(
            z["emissions_kg"]
            for s in self.summary.values()
            for z in s["by_zone"]
            if z["zone"] == carbon.WORLD_ZONE
        )
        callout = page.find(lambda e: e.attrs.get("id") == "unknown-location")
        unknown = [r for r in self.all_runs.values() if not r["location_known"]]
        led.same(
            where,
            "unknown-location callout shown",
            callout is not None,
            "API runs of unknown location",
            bool(unknown),
        )
        if callout is not None:
            text = matched(
                r"so (?:its|their) (.+?) are counted at the world", para(callout, "world-average")
            )
            led.shows(
                f"{where} unknown-location callout",
                text,
                "API WORLD by_zone emissions_kg",
                world,
                KG * len(self.summary),
                formatting.mass,
            )
            for row in table_rows(callout):
                r = self.all_runs.get(uuid_in(row.href))
                led.same(
                    f"{where} unknown-location runs",
                    "a run of unknown location",
                    r is not None and not r["location_known"],
                    "expected",
                    True,
                )
                if r is not None:
                    self.cells(
                        f"{where} unknown-location runs, {r['run_key']}",
                        row,
                        {2: "emissions_kg"},
                        "API run",
                        r,
                    )
        rows = {uuid_in(r.href): r for r in table_rows(section(page, "Projects"))}
        led.same(
            where,
            "projects table",
            sorted(rows),
            "API projects with usage",
            sorted(r["project_id"] for r in org["by_project"]),
        )
        for pid, row in rows.items():
            w = f"{where} projects table, {self.name(pid)}" if pid in self.summary else where
            if pid in self.summary:
                self.cells(
                    w,
                    row,
                    {1: "energy_kwh", 2: "emissions_kg", 3: "gpu_hours"},
                    "API project summary",
                    self.summary[pid],
                )
                self.share(f"{w} measured", row.cells[4], "API project summary", self.summary[pid])
        top = table_rows(section(page, "Top runs by emissions"))
        expected = sorted(self.all_runs.values(), key=lambda r: -r["emissions_kg"])[: len(top)]
        led.same(
            where,
            "top runs",
            [uuid_in(r.href) for r in top],
            "the API's runs with the most emissions",
            [r["id"] for r in expected],
        )
        for row in top:
            r = self.all_runs.get(uuid_in(row.href))
            if r is not None:
                self.cells(
                    f"{where} top runs, {r['run_key']}",
                    row,
                    {3: "energy_kwh", 4: "emissions_kg"},
                    "API run",
                    r,
                )
        self.check_figures(where, page, org, "zones", "providers")
        sums, xs = chart_sums(figure(page, "time"))
        led.equal(
            f"{where} emissions chart",
            "sum of bars",
            sum(sums.values()),
            "API organisation emissions_kg",
            org["emissions_kg"],
            KG,
        )
        for pid, s in self.summary.items():
            if self.name(pid) in sums:
                led.equal(
                    f"{where} emissions chart",
                    f"sum of {self.name(pid)} bars",
                    sums[self.name(pid)],
                    "API summary emissions_kg",
                    s["emissions_kg"],
                    KG,
                )
        # A weekly or monthly bar starts on its week's Monday or month's first day.
        outside = sorted({x for x in xs if not self.start - timedelta(days=31) < x < self.end})
        led.empty(f"{where} emissions chart", "bars outside the period", outside)

    def check_project_pages(self) -> None:
        led = self.led
        for pid, s in self.summary.items():
            where = f"project page {self.name(pid)}"
            page = get_page(self.reader, f"{self.o}/projects/{pid}/?{self.period}")
            self.cards(where, page, "API project summary", s)
            big = section(page, "What the period's emissions amount to").find(
                lambda e: e.has_class("big")
            )
            self.shows(
                f"{where} 'What the period's emissions amount to'",
                big.text() if big else None,
                "API summary",
                s,
                "emissions_kg",
            )
            if s["energy_kwh"] > 0:
                text = para(section(page, "Had this been run elsewhere"), "of IT energy emitted")
                self.shows(
                    f"{where} what-if",
                    matched(r"The period's (.+?) of IT energy", text),
                    "API summary",
                    s,
                    "energy_kwh",
                )
                self.shows(
                    f"{where} what-if",
                    matched(r"of IT energy emitted (.+?)\. The same", text),
                    "API summary",
                    s,
                    "emissions_kg",
                )
            rows = {uuid_in(r.href): r for r in table_rows(section(page, "Experiments"))}
            led.same(
                where,
                "experiments table",
                sorted(rows),
                "API experiments",
                sorted(e["id"] for e in self.experiments[pid]),
            )
            for e in self.experiments[pid]:
                if e["id"] in rows:
                    w = f"{where} experiments table, {e['name']}"
                    led.same(
                        w,
                        "runs",
                        rows[e["id"]].cells[1],
                        "API experiment run_count",
                        f"{e['run_count']:,}",
                    )
                    self.cells(
                        w,
                        rows[e["id"]],
                        {2: "energy_kwh", 3: "emissions_kg", 4: "gpu_hours"},
                        "API experiment",
                        e,
                    )
            self.check_last_run(where, page, pid)
            self.check_where_table(where, page, s)
            self.check_figures(where, page, s, "where")
            sums, _ = chart_sums(figure(page, "time"))
            led.equal(
                f"{where} emissions chart",
                "sum of bars",
                sum(sums.values()),
                "API summary emissions_kg",
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
        """ "Last run, next to the project total": the newest run, and the all-time totals."""
        runs = [r for e in self.experiments[pid] for r in self.runs[e["id"]]]
        if not runs:
            return
        last = max(runs, key=lambda r: r["started_at"])
        card = section(page, "Last run, next to the project total")
        rows = {row.cells[0]: row for row in table_rows(card)}
        for label, name in (
            ("Energy (IT)", "energy_kwh"),
            ("Emissions", "emissions_kg"),
            ("GPU-hours", "gpu_hours"),
        ):
            if label not in rows:
                self.led.same(f"{where} last run", f"row {label!r}", None, "expected", "a row")
                continue
            self.cells(
                f"{where} last run", rows[label], {1: name}, f"API run {last['run_key']}", last
            )
            self.cells(
                f"{where} all time", rows[label], {2: name}, "API project", self.all_time[pid]
            )
        link = card.find(lambda e: e.tag == "a" and "/runs/" in e.attrs.get("href", ""))
        self.led.same(
            f"{where} last run",
            "link",
            uuid_in(link.attrs["href"]) if link else None,
            "API newest run",
            last["id"],
        )
        self.led.same(
            f"{where} last run",
            "runs in all",
            matched(r"([\d,]+) runs? in all", card.text()),
            "API runs",
            f"{len(runs):,}",
        )

    def check_where_table(self, where: str, page: Element, s: dict[str, Any]) -> None:
        """ "Where the infrastructure runs": rows per zone, provider and region, added up
        per zone and provider, against the summary's ``by_zone``."""
        shown: dict[tuple[str, str], list[Row]] = defaultdict(list)
        for row in table_rows(section(page, "Where the infrastructure runs")):
            zone = matched(r"\(([A-Z0-9-]+)\)", row.cells[0]) or row.cells[0]
            provider = "" if row.cells[1] == formatting.MISSING else row.cells[1].split(" ")[0]
            shown[(zone, provider)].append(row)
        api = {(z["zone"], z["cloud_provider"]): z for z in s["by_zone"]}
        self.led.same(
            f"{where} where table", "zones and providers", sorted(shown), "API by_zone", sorted(api)
        )
        for key, rows in shown.items():
            for index, name in ((2, "energy_kwh"), (3, "emissions_kg")):
                readings = [read_shown(row.cells[index]) for row in rows]
                if key in api:
                    self.led.equal(
                        f"{where} where table {key}",
                        f"sum of shown {name}",
                        sum(r.value for r in readings),
                        f"API by_zone {name}",
                        api[key][name],
                        sum(r.half for r in readings) + KWH,
                    )

    def check_experiment_pages(self) -> None:
        led = self.led
        for pid in self.summary:
            for e in self.experiments[pid]:
                where = f"experiment page {e['name']} of {self.name(pid)}"
                page = get_page(self.reader, f"{self.o}/experiments/{e['id']}/")
                self.cards(where, page, "API experiment", e)
                by_status: dict[str, dict[str, float]] = {}
                for r in self.runs[e["id"]]:
                    kg = by_status.setdefault(r["status"], {"emissions_kg": 0.0})
                    kg["emissions_kg"] += r["emissions_kg"]
                shown = {
                    row.cells[0]: row
                    for row in table_rows(section(page, "Emissions by run status"))
                }
                led.same(
                    where,
                    "emissions by status",
                    sorted(shown),
                    "API runs' statuses",
                    sorted(by_status),
                )
                for status, status_row in shown.items():
                    if status in by_status:
                        self.cells(
                            f"{where} {status} runs",
                            status_row,
                            {1: "emissions_kg"},
                            "API sum of runs",
                            by_status[status],
                        )
                rows = {uuid_in(r.href): r for r in table_rows(section(page, "Runs"))}
                led.same(
                    where,
                    "runs table",
                    sorted(rows),
                    "API runs",
                    sorted(r["id"] for r in self.runs[e["id"]]),
                )
                for r in self.runs[e["id"]]:
                    row = rows.get(r["id"])
                    if row is None:
                        continue
                    w = f"{where} runs table, {r['run_key']}"
                    led.same(
                        w,
                        "started",
                        row.cells[2],
                        "API run started_at",
                        f"{utc(r['started_at']):%Y-%m-%d %H:%M}",
                    )
                    led.shows_duration(
                        f"{w} duration", row.cells[3], "API run duration_s", r["duration_s"]
                    )
                    self.cells(w, row, {4: "energy_kwh", 5: "emissions_kg"}, "API run", r)

    def check_run_pages(self) -> None:
        led = self.led
        for r in self.sampled_runs():
            where = f"run page {r['run_key']}"
            page = get_page(self.reader, f"{self.o}/runs/{r['id']}/")
            shown = data_numbers(page)
            prediction = page.find(lambda e: e.has_class("prediction"))
            led.same(
                where,
                "prediction shown",
                prediction is not None,
                "API prediction given",
                r["predicted_energy_kwh"] is not None,
            )
            if prediction is not None:
                strong = [e.text() for e in prediction.find_all(lambda e: e.tag == "strong")]
                predicted = {
                    "energy_kwh": r["predicted_energy_kwh"],
                    "emissions_kg": r["predicted_emissions_kg"],
                }
                for text, name in zip(strong, ("energy_kwh", "emissions_kg"), strict=False):
                    self.shows(f"{where} predicted", text, "API run predicted", predicted, name)
            for key, name in (
                ("energy", "energy_kwh"),
                ("facility_energy", "facility_energy_kwh"),
                ("emissions", "emissions_kg"),
                ("gpu_hours", "gpu_hours"),
            ):
                self.shows(where, shown.get(key), "API run", r, name)
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
            self.share(f"{where} measured_share", shown.get("measured_share"), "API run", r)
            head = page.find(lambda e: e.has_class("page-head"))
            text = head.text() if head else ""
            led.same(
                where,
                "started",
                matched(r"started (\S+ \S+) UTC", text),
                "API run started_at",
                f"{utc(r['started_at']):%Y-%m-%d %H:%M:%S}",
            )
            ended = f"{utc(r['ended_at']):%Y-%m-%d %H:%M:%S}" if r["ended_at"] else None
            led.same(
                where, "ended", matched(r"ended (\S+ \S+) UTC", text), "API run ended_at", ended
            )
            live = get_json(self.reader, f"{self.o}/runs/{r['id']}/live.json")
            led.same(
                where, "live.json numbers", live["numbers"], "the page's data-number spans", shown
            )
            methods: dict[str, list[str]] = defaultdict(list)
            table = page.find(lambda e: e.attrs.get("id") == "methods")
            for row in table_rows(table) if table else []:
                methods[row.cells[0]].append(row.cells[2])
            for comp in ("cpu", "gpu", "ram"):
                readings = [read_shown(t) for t in methods.get(comp.upper(), [])]
                if readings or r[f"{comp}_energy_kwh"]:
                    led.equal(
                        f"{where} methods table {comp.upper()}",
                        "sum of shown energy",
                        sum(x.value for x in readings),
                        f"API run {comp}_energy_kwh",
                        r[f"{comp}_energy_kwh"],
                        sum(x.half for x in readings) + KWH,
                    )

    # -- the report --------------------------------------------------------------------------

    def check_report_json(self, files: ReportFiles) -> None:
        led, org, data = self.led, self.org_api, files.json
        where = "report JSON"
        period = data["period"]
        led.same(where, "period.to_date", period["to_date"], "a finished period", False)
        led.same(
            where,
            "period data range",
            (period["data_start"], period["data_end"]),
            "the period",
            (self.start.isoformat(), self.end.isoformat()),
        )
        led.same(
            where,
            "period.description",
            period["description"],
            "the overview's range",
            self.page_range,
        )
        led.agree(
            where,
            "totals",
            data["totals"],
            "API organisation",
            org,
            (*USAGE, "run_count"),
            terms=1,
        )
        s = data["summary"]
        for key, name, place in (
            ("energy_mwh", "energy_kwh", "mwh"),
            ("facility_energy_mwh", "facility_energy_kwh", "mwh"),
            ("location_t", "emissions_kg", "t"),
        ):
            led.equal(
                where,
                f"summary.{key} x 1000",
                s[key] * 1000.0,
                f"API organisation {name}",
                org[name],
                500 * 10.0 ** -PLACES[place] + KWH,
            )
        led.same(
            where,
            "summary.run_count",
            s["run_count"],
            "API organisation run_count",
            org["run_count"],
        )
        led.same(
            where,
            "projects",
            sorted(p["id"] for p in data["projects"]),
            "API projects",
            sorted(self.summary),
        )
        for p in data["projects"]:
            if p["id"] in self.summary:
                led.agree(
                    f"{where} project {p['name']}",
                    "row",
                    p,
                    "API summary",
                    self.summary[p["id"]],
                    (*USAGE[:5], "gpu_hours", "measurement_count", "run_count"),
                    terms=1,
                )
        month_points = get_json(
            self.reader, f"/api/v1/organisations/{self.org.uuid}/series?{self.range}&bucket=month"
        )["points"]
        months: dict[str, dict[str, Any]] = {}
        for p in month_points:
            m = months.setdefault(
                p["t"][:7], {"month": p["t"][:7], "energy_kwh": 0.0, "emissions_kg": 0.0}
            )
            m["energy_kwh"] += p["energy_kwh"]
            m["emissions_kg"] += p["emissions_kg"]
        led.same(
            where,
            "monthly",
            [m["month"] for m in data["monthly"]],
            "API month buckets",
            sorted(months),
        )
        for m in data["monthly"]:
            if m["month"] in months:
                led.agree(
                    f"{where} monthly {m['month']}",
                    "row",
                    m,
                    "API month series",
                    months[m["month"]],
                    ("energy_kwh", "emissions_kg"),
                    terms=len(self.summary) + 1,
                )
        led.adds_up(
            where,
            "monthly rows",
            data["monthly"],
            "API organisation",
            org,
            ("energy_kwh", "emissions_kg"),
        )
        led.adds_up(
            where, "zones", data["zones"], "API organisation", org, ("energy_kwh", "emissions_kg")
        )
        led.equal(
            where,
            "esrs_e1_6 total_location_kg",
            data["esrs_e1_6"]["total_location_kg"],
            "API organisation emissions_kg",
            org["emissions_kg"],
            KG,
        )
        top = data["top_runs"]
        expected = sorted(
            self.all_runs.values(), key=lambda r: (-r["emissions_kg"], r["started_at"])
        )[: len(top)]
        led.same(
            where,
            "top_runs",
            [t["id"] for t in top],
            "the API's runs with the most emissions",
            [r["id"] for r in expected],
        )
        for t in top:
            if t["id"] in self.all_runs:
                led.agree(
                    f"{where} top run {t['name']}",
                    "row",
                    t,
                    "API run",
                    self.all_runs[t["id"]],
                    ("energy_kwh", "emissions_kg", "gpu_hours"),
                    terms=1,
                )
        gaps = data["gaps"]
        world = [
            z for s in self.summary.values() for z in s["by_zone"] if z["zone"] == carbon.WORLD_ZONE
        ]
        led.adds_up(
            where,
            "API WORLD by_zone rows",
            world,
            "gaps location_unknown",
            {"energy_kwh": gaps["location_unknown_energy_kwh"]},
            ["energy_kwh"],
        )
        statuses = [r["status"] for r in self.all_runs.values()]
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
        api_zones: dict[tuple[str, str], float] = defaultdict(float)
        for s in self.summary.values():
            for z in s["by_zone"]:
                api_zones[(z["zone"], z["cloud_provider"])] += z["emissions_kg"]
        zones: dict[tuple[str, str], float] = defaultdict(float)
        for z in data["zones"]:
            zones[(z["zone"], z["cloud_provider"])] += z["emissions_kg"]
        led.same(where, "zones", sorted(zones), "API by_zone of the projects", sorted(api_zones))
        for zone, kg in api_zones.items():
            led.equal(
                f"{where} zone {zone}",
                "emissions_kg",
                zones.get(zone, 0.0),
                "API by_zone emissions_kg",
                kg,
                (len(self.summary) + 1) * KG,
            )

    def check_report_csv(self, files: ReportFiles) -> None:
        where = "report CSV"
        rows = [
            {
                k: (int(v) if k == "measurement_count" else float(v))
                for k, v in r.items()
                if k in HALF
            }
            | {"project_id": r["project_id"]}
            for r in files.csv_rows
        ]
        names = (
            "energy_kwh",
            "facility_energy_kwh",
            "emissions_kg",
            "measured_energy_kwh",
            "imported_energy_kwh",
            "gpu_hours",
            "measurement_count",
        )
        self.led.adds_up(where, "rows", rows, "API organisation", self.org_api, names)
        for pid, s in self.summary.items():
            self.led.adds_up(
                f"{where} {self.name(pid)}",
                "rows",
                [r for r in rows if r["project_id"] == pid],
                "API summary",
                s,
                names,
            )
        self.led.same(
            where,
            "to_date of the rows",
            sorted({r["to_date"] for r in files.csv_rows}),
            "a finished period",
            ["False"],
        )

    def check_report_xlsx(self, files: ReportFiles) -> None:
        led, org = self.led, self.org_api
        half = {"mwh": 500 * 10.0 ** -PLACES["mwh"] + KWH, "t": 500 * 10.0 ** -PLACES["t"] + KG}
        gpu_half = 0.5 * 10.0 ** -PLACES["hours"] + HALF["gpu_hours"]
        where = "report XLSX Summary"
        for label, name, kind in (
            ("IT energy (MWh)", "energy_kwh", "mwh"),
            ("Facility energy (MWh)", "facility_energy_kwh", "mwh"),
            ("Emissions, location-based (t CO2e)", "emissions_kg", "t"),
        ):
            led.equal(
                where,
                f"{label!r} x 1000",
                (files.summary.get(label) or 0.0) * 1000.0,
                f"API organisation {name}",
                org[name],
                half[kind],
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
            gpu_half,
        )
        led.same(
            "report XLSX Projects",
            "rows",
            sorted(files.projects),
            "API projects",
            sorted(self.name(pid) for pid in self.summary),
        )
        for pid, s in self.summary.items():
            row = files.projects.get(self.name(pid))
            if row is None:
                continue
            w = f"report XLSX Projects, {self.name(pid)}"
            led.same(w, "Runs", row[2], "API summary run_count", s["run_count"])
            for index, name, kind in (
                (3, "energy_kwh", "mwh"),
                (4, "facility_energy_kwh", "mwh"),
                (5, "emissions_kg", "t"),
                (6, "measured_energy_kwh", "mwh"),
            ):
                led.equal(
                    w,
                    f"column {index + 1} x 1000",
                    row[index] * 1000.0,
                    f"API summary {name}",
                    s[name],
                    half[kind],
                )
            led.equal(w, "GPU-hours", row[7], "API summary gpu_hours", s["gpu_hours"], gpu_half)

    def check_report_pdf(self, files: ReportFiles) -> None:
        """The PDF's summary rows and its table by project, read back from its text (one
        table cell per line)."""
        led, org = self.led, self.org_api
        cells = [" ".join(line.split()) for line in files.pdf_text.splitlines()]
        cells = [c for c in cells if c]
        where = "report PDF"
        for label, name, fmt in (
            ("IT energy (MWh)", "energy_kwh", mwh),
            ("Facility energy incl. PUE (MWh)", "facility_energy_kwh", mwh),
            ("Location-based (t CO2e)", "emissions_kg", tonnes),
        ):
            text = cells[cells.index(label) + 1] if label in cells[:-1] else None
            led.shows(
                f"{where} summary {label!r}",
                text,
                f"API organisation {name}",
                org[name],
                HALF[name],
                fmt,
                scale=1000.0,
            )
        text = " ".join(cells)
        pattern = r"([\d,]+) runs started in the period; ([\d,.]+) GPU-hours; ([\d,]+) measurements"
        m = re.search(pattern, text)
        led.same(
            where, "runs started", m and m[1], "API organisation run_count", f"{org['run_count']:,}"
        )
        led.shows(
            f"{where} GPU-hours",
            m and m[2],
            "API organisation gpu_hours",
            org["gpu_hours"],
            HALF["gpu_hours"],
        )
        led.same(
            where,
            "measurements",
            m and m[3],
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
                # The total row has no scope, and an empty cell gives no line.
                found["Total"] = ["Total", "", *cells[j + 1 : j + len(header) - 1]]
        expected = [(self.name(pid), s) for pid, s in self.summary.items()] + [("Total", org)]
        led.same(
            where,
            "by project rows",
            sorted(found),
            "API projects and a total",
            sorted(n for n, _ in expected),
        )
        for name, api_figures in expected:
            row = found.get(name)
            if row is None:
                continue
            w = f"{where} by project, {name}"
            led.same(w, "runs", row[2], "API run_count", f"{api_figures['run_count']:,}")
            for index, field, fmt in (
                (3, "energy_kwh", mwh),
                (4, "facility_energy_kwh", mwh),
                (5, "emissions_kg", tonnes),
            ):
                led.shows(
                    f"{w} {header[index]}",
                    row[index],
                    f"API {field}",
                    api_figures[field],
                    HALF[field],
                    fmt,
                    scale=1000.0,
                )
            self.share(f"{w} measured", row[6], "API", api_figures, missing="n/a")


def data_days(org: Organisation) -> tuple[date, date]:
    """The first and last day that hold an interval of the organisation."""
    span = Measurement.objects.filter(run__project__organisation=org).aggregate(
        first=Min("start"), last=Max("end")
    )
    last = span["last"] - timedelta(microseconds=1)
    return span["first"].astimezone(UTC).date(), last.astimezone(UTC).date()


def fail_on(ledger: Ledger) -> None:
    if ledger.problems:
        pytest.fail(ledger.report(), pytrace=False)


def test_pages_api_and_reports_agree_on_the_seeded_demo(
    db: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    with monkeypatch.context() as m:
        # The demo fills the months up to "now": made as of DEMO_NOW, it lies in a period
        # that has ended.
        m.setattr("django.utils.timezone.now", lambda: DEMO_NOW)
        call_command("seed_demo", "--runs", str(DEMO_RUNS), "--seed", "7", stdout=StringIO())
    org = Organisation.objects.get(name="Demo Lab")
    reader = Client()
    reader.force_login(User.objects.get(username="demo"))
    days = data_days(org)
    ledger = Reconciliation(org, reader, reader, days, django_capture_on_commit_callbacks, 6).run()
    fail_on(ledger)
    assert ledger.checks > 1000


def test_pages_api_and_reports_agree_on_random_data(
    cast: Cast, django_capture_on_commit_callbacks: Any
) -> None:
    posted = post_random_data(cast, RANDOM_SEED, date(2026, 10, 5), days=6)
    first, last = data_days(cast.org)
    assert posted.first_day <= first and last <= posted.last_day
    days = (posted.first_day, posted.last_day)
    viewer, member = cast.client_for("viewer"), cast.client_for("member")
    ledger = Reconciliation(cast.org, viewer, member, days, django_capture_on_commit_callbacks, 8)
    fail_on(ledger.run())
    # What was posted (each interval once, though a batch was sent twice) is what counts.
    org = get_json(viewer, f"/api/v1/organisations/{cast.org.uuid}")
    assert org["measurement_count"] == posted.measurement_count
    assert org["energy_kwh"] == pytest.approx(posted.energy_kwh, abs=KWH)


def test_the_reconciliation_finds_figures_that_disagree(
    cast: Cast, django_capture_on_commit_callbacks: Any
) -> None:
    """The checks can fail: an hour aggregate and a run total altered behind the
    ingestion's back are each reported, with where and by how much."""
    client = Client()
    day = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
    for key, start in (("a", day), ("b", day + timedelta(hours=3, minutes=20))):
        run = api(client, "post", "/api/v1/runs", cast.ingest_key, {"run_key": key}).json()
        batch = [
            measurement(start + timedelta(minutes=10 * i), 600.0, gpu_kwh=0.05) for i in range(9)
        ]
        r = api(
            client,
            "post",
            f"/api/v1/runs/{run['id']}/measurements",
            cast.ingest_key,
            {"measurements": batch},
        )
        assert r.status_code == 200, r.content
    first = UsageHour.objects.order_by("hour").first()
    assert first is not None
    UsageHour.objects.filter(pk=first.pk).update(energy_kwh=F("energy_kwh") + 0.02)
    Run.objects.filter(run_key="b").update(emissions_kg=F("emissions_kg") + 0.003)
    days = (day.date(), day.date())
    viewer = cast.client_for("viewer")
    rec = Reconciliation(cast.org, viewer, viewer, days, django_capture_on_commit_callbacks, 0)
    rec.check_the_period_holds_every_interval()
    rec.read_api()
    rec.check_the_api_adds_up()
    rec.check_the_series_against_the_measurements()
    text = "\n".join(rec.led.problems)
    assert "project vision: sum of experiments' energy_kwh" in text, text
    assert "organisation: sum of runs' emissions_kg" in text, text
    assert "hour series against its measurements: buckets whose energy_kwh" in text, text
    assert "off by -0.02" in text and "off by 0.003" in text, text


@pytest.mark.parametrize(
    ("text", "value", "agrees"),
    [
        ("1.23 MWh", 1234.9, True),
        ("1.23 MWh", 1235.1, False),
        ("12.3 g CO2e", 0.01234, True),
        ("12.3 g CO2e", 0.0124, False),
        ("2,651 GPU-h", 2650.6, True),
        ("2,651 GPU-h", 2652.0, False),
        ("< 0.000001 kWh", 4e-7, True),
        ("< 0.000001 kWh", 2e-6, False),
        ("0.0843 kWh", 0.08425, True),
        ("89.0 %", 0.8904, True),
        ("89.0 %", 0.8894, False),
    ],
)
def test_a_displayed_figure_agrees_only_with_values_it_can_stand_for(
    text: str, value: float, agrees: bool
) -> None:
    ledger = Ledger()
    ledger.shows("page", text, "API", value)
    assert (not ledger.problems) is agrees, ledger.problems


def test_every_figure_the_pages_write_is_read_back_as_itself() -> None:
    ledger = Ledger()
    for exponent in range(-7, 7):
        for mantissa in (1.0, 1.2345, 4.995, 9.9996):
            v = mantissa * 10.0**exponent
            for fmt in (formatting.energy, formatting.mass, FORMATS["gpu_hours"]):
                ledger.shows(f"{fmt(v)!r}", fmt(v), "value", v)
            seconds = v * 1000
            ledger.shows_duration(
                formatting.duration(seconds), formatting.duration(seconds), "s", seconds
            )
    assert not ledger.problems, ledger.report()
