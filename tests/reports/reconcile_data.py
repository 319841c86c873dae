"""What the reconciliation test needs besides its checks: random data posted through the
API like real clients', readers of what pages and reports display, and a ledger that
collects every disagreement instead of stopping at the first.

Readers turn a displayed string back into the interval of values it can stand for
(``"1.23 MWh"`` is 1,225 to 1,235 kWh), so that "agrees to the displayed precision" means:
the figure it is compared with lies in that interval.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from html.parser import HTMLParser
from typing import Any

from django.test import Client
from openpyxl import load_workbook
from pypdf import PdfReader

from api.models import ApiKey, Hosting, Project
from reports.models import Report, ReportStatus
from tests.cast import Cast, api

# --- reading pages ------------------------------------------------------------------------

VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param"}
    | {"source", "track", "wbr"}
)


@dataclass
class Element:
    """One element of a parsed page: enough of a DOM to find cards, cells and figures."""

    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)
    parent: Element | None = field(default=None, repr=False, compare=False)

    def text(self) -> str:
        """The element's text, whitespace collapsed as a browser shows it."""
        parts: list[str] = []

        def walk(node: Element | str) -> None:
            if isinstance(node, str):
                parts.append(node)
            else:
                for child in node.children:
                    walk(child)

        walk(self)
        return " ".join("".join(parts).split())

    def iter(self) -> Iterator[Element]:
        """This element and every element below it, in document order."""
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def find_all(self, pred: Callable[[Element], bool]) -> list[Element]:
        return [e for e in self.iter() if pred(e)]

    def find(self, pred: Callable[[Element], bool]) -> Element | None:
        return next((e for e in self.iter() if pred(e)), None)

    def has_class(self, name: str) -> bool:
        return name in self.attrs.get("class", "").split()


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, parent=self.stack[-1])
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        parent = self.stack[-1]
        parent.children.append(Element(tag, {k: v or "" for k, v in attrs}, parent=parent))

    def handle_endtag(self, tag: str) -> None:
        # Close up to the matching open element (tolerates an implicitly closed <p>).
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse_html(content: bytes) -> Element:
    """The page as a tree of :class:`Element`."""
    builder = _TreeBuilder()
    builder.feed(content.decode("utf-8"))
    builder.close()
    return builder.root


def stat_cards(page: Element) -> dict[str, str]:
    """The headline cards of a page: ``data-stat`` key -> the text of its value."""
    out: dict[str, str] = {}
    for card in page.find_all(lambda e: "data-stat" in e.attrs):
        value = card.find(lambda e: e.has_class("stat-value"))
        if value is not None:
            out[card.attrs["data-stat"]] = value.text()
    return out


def data_numbers(page: Element) -> dict[str, str]:
    """The run page's ``data-number`` spans: name -> text."""
    return {
        e.attrs["data-number"]: e.text() for e in page.find_all(lambda e: "data-number" in e.attrs)
    }


def section(page: Element, heading: str) -> Element:
    """The card or section that a ``h2`` reading ``heading`` heads (the h2's parent)."""
    h2 = page.find(lambda e: e.tag == "h2" and e.text() == heading)
    if h2 is None or h2.parent is None:
        raise AssertionError(f"no heading {heading!r} on the page")
    return h2.parent


@dataclass
class Row:
    """A table row: the link of its first cell and the text of each cell."""

    href: str
    cells: list[str]


def table_rows(container: Element) -> list[Row]:
    """The body rows of the first table in ``container``."""
    table = container.find(lambda e: e.tag == "table")
    if table is None:
        return []
    body = table.find(lambda e: e.tag == "tbody")
    rows = []
    for tr in (body or table).find_all(lambda e: e.tag == "tr"):
        cells = [c for c in tr.children if isinstance(c, Element) and c.tag in ("td", "th")]
        link = cells[0].find(lambda e: e.tag == "a") if cells else None
        rows.append(Row(link.attrs.get("href", "") if link else "", [c.text() for c in cells]))
    return rows


def figure(page: Element, name: str) -> dict[str, Any]:
    """The plotly figure a page embeds for chart ``name`` (``json_script`` id fig-<name>-data)."""
    script = page.find(lambda e: e.tag == "script" and e.attrs.get("id") == f"fig-{name}-data")
    if script is None:
        raise AssertionError(f"no figure {name!r} on the page")
    return dict(json.loads(script.text() or "null") or {})


# --- reading displayed numbers --------------------------------------------------------------

# What a unit shown on a page or in a report is worth in the unit the API answers in.
SCALE = {
    "kWh": 1.0,
    "MWh": 1000.0,
    "g CO2e": 0.001,
    "kg CO2e": 1.0,
    "t CO2e": 1000.0,
    "GPU-h": 1.0,
    "%": 0.01,
    "": 1.0,
}
SHOWN = re.compile(
    r"^(?P<below><\s*)?(?P<sign>[-\u2212])?(?P<num>\d[\d,]*(?:\.\d+)?)\s*(?P<unit>.*)$"
)


@dataclass(frozen=True)
class Reading:
    """A displayed figure read back: the value it shows and half its last digit's step,
    both in the API's unit; the true figure lies within ``value`` +/- ``half``."""

    value: float
    half: float
    unit: str


def read_shown(text: str, scale: float | None = None) -> Reading:
    """Read ``"1.23 MWh"``, ``"12.3 g CO2e"``, ``"4,567 kWh"``, ``"95.1 %"``, ``"3.4 GPU-h"``
    or ``"< 0.000001 kWh"``; ``scale`` overrides the unit's (a report column in MWh)."""
    m = SHOWN.match(text.strip())
    if m is None:
        raise ValueError(f"not a displayed number: {text!r}")
    unit = m["unit"].strip()
    if scale is None:
        if unit not in SCALE:
            raise ValueError(f"unknown unit {unit!r} in {text!r}")
        scale = SCALE[unit]
    digits = m["num"].replace(",", "")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    step = 10.0**-decimals * scale
    value = float(digits) * scale
    if m["below"]:
        # "< 0.000001": anything from zero up to that.
        return Reading(value / 2, value / 2, unit)
    if m["sign"]:
        value = -value
    return Reading(value, step / 2, unit)


DURATION_UNITS = {"d": 86400, "h": 3600, "min": 60, "s": 1}


def read_duration(text: str) -> tuple[float, float]:
    """``"3 h 25 min"`` -> the seconds it can stand for, [low, high): ``formatting.duration``
    rounds to whole seconds and then drops everything below its second unit."""
    parts = text.split()
    if len(parts) not in (2, 4):
        raise ValueError(f"not a displayed duration: {text!r}")
    total = 0
    smallest = 0
    for amount, unit in zip(parts[::2], parts[1::2], strict=True):
        total += int(amount) * DURATION_UNITS[unit]
        smallest = DURATION_UNITS[unit]
    return total - 0.5, total + smallest - 0.5


# --- the ledger -----------------------------------------------------------------------------

# Half a unit of the last decimal the API gives each quantity (``api.precision.UNITS``:
# 6 decimals of kWh and kg, 4 of hours, 3 of seconds, 1 of watts); 0 for a count.
KWH = KG = 5e-7
HALF: dict[str, float] = {
    "energy_kwh": KWH,
    "facility_energy_kwh": KWH,
    "cpu_energy_kwh": KWH,
    "gpu_energy_kwh": KWH,
    "ram_energy_kwh": KWH,
    "measured_energy_kwh": KWH,
    "imported_energy_kwh": KWH,
    "estimated_energy_kwh": KWH,
    "emissions_kg": KG,
    "gpu_hours": 5e-5,
    "duration_s": 5e-4,
    "bucket_s": 5e-4,
    "power_w": 0.05,
    "run_count": 0.0,
    "measurement_count": 0.0,
}


@dataclass
class Ledger:
    """Every comparison made and every disagreement found, with where and what."""

    problems: list[str] = field(default_factory=list)
    checks: int = 0

    def agree(
        self,
        where: str,
        a_name: str,
        a: dict[str, Any],
        b_name: str,
        b: dict[str, Any],
        names: Iterable[str],
        terms: int = 2,
    ) -> None:
        """Each quantity of ``names`` is the same in two answers: counts exactly, the others
        within the rounding of ``terms`` API figures (:data:`HALF`)."""
        for name in names:
            if HALF[name]:
                self.equal(
                    where,
                    f"{a_name} {name}",
                    a[name],
                    f"{b_name} {name}",
                    b[name],
                    terms * HALF[name],
                )
            else:
                self.same(where, f"{a_name} {name}", a[name], f"{b_name} {name}", b[name])

    def adds_up(
        self,
        where: str,
        parts_name: str,
        parts: list[dict[str, Any]],
        whole_name: str,
        whole: dict[str, Any],
        names: Iterable[str],
    ) -> None:
        """Each quantity of ``names`` summed over ``parts`` is the ``whole``'s: counts
        exactly, the others within the rounding of every non-zero part and of the whole
        (a zero is exact)."""
        for name in names:
            total = sum(p[name] for p in parts)
            what = f"sum of {parts_name}' {name}"
            if HALF[name]:
                terms = sum(1 for p in parts if p[name]) + 1
                self.equal(
                    where, what, total, f"{whole_name} {name}", whole[name], terms * HALF[name]
                )
            else:
                self.same(where, what, total, f"{whole_name} {name}", whole[name])

    def equal(self, where: str, a_name: str, a: float, b_name: str, b: float, tol: float) -> None:
        """``a`` and ``b`` agree within ``tol`` (plus float noise of a sum, 1e-9 relative)."""
        self.checks += 1
        if not math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=tol):
            self.problems.append(
                f"{where}: {a_name} = {a!r} but {b_name} = {b!r} "
                f"(off by {float(a) - float(b):.6g}, allowed {tol:.3g})"
            )

    def same(self, where: str, a_name: str, a: Any, b_name: str, b: Any) -> None:
        """``a == b`` exactly (counts, names, sets)."""
        self.checks += 1
        if a != b:
            self.problems.append(f"{where}: {a_name} = {a!r} but {b_name} = {b!r}")

    def empty(self, where: str, what: str, items: list[Any]) -> None:
        """``items`` (the cases that break a rule, named by ``what``) is empty; shows the
        first few otherwise."""
        self.checks += 1
        if items:
            more = f" and {len(items) - 4} more" if len(items) > 4 else ""
            self.problems.append(f"{where}: {what}: {items[:4]!r}{more}")

    def shows(
        self,
        where: str,
        text: str | None,
        b_name: str,
        b: float,
        slack: float = 0.0,
        fmt: Callable[[float], str] | None = None,
        scale: float | None = None,
    ) -> None:
        """The displayed ``text`` stands for ``b`` to its displayed precision; ``slack`` is
        the rounding ``b`` itself carries (half a unit of an API answer's last decimal)."""
        self.checks += 1
        expected = f", which would show as {fmt(b)!r}" if fmt else ""
        if text is None:
            self.problems.append(f"{where}: nothing displayed; {b_name} = {b!r}{expected}")
            return
        try:
            r = read_shown(text, scale)
        except ValueError as exc:
            self.problems.append(f"{where}: {exc}; {b_name} = {b!r}{expected}")
            return
        allowed = r.half + slack + 1e-12 * abs(b)
        if abs(r.value - b) > allowed:
            self.problems.append(
                f"{where}: shows {text!r} ({r.value:.9g} +/- {r.half:.3g}) but {b_name} = "
                f"{b!r}{expected}"
            )

    def shows_duration(self, where: str, text: str | None, b_name: str, seconds: float) -> None:
        self.checks += 1
        try:
            lo, hi = read_duration(text or "")
        except (ValueError, KeyError):
            self.problems.append(f"{where}: duration {text!r} unreadable; {b_name} = {seconds!r}")
            return
        # The API gives seconds to the millisecond; allow that rounding at both ends.
        if not lo - 0.0005 <= seconds < hi + 0.0005:
            self.problems.append(
                f"{where}: shows {text!r} ({lo + 0.5:g} s to {hi + 0.5:g} s) but {b_name} = "
                f"{seconds!r} s"
            )

    def report(self) -> str:
        return f"{len(self.problems)} disagreement(s) in {self.checks} checks:\n" + "\n".join(
            self.problems
        )


# --- random data through the API ------------------------------------------------------------

# Where the random projects say they run, and what a run may say instead.
PROJECT_SPECS: list[dict[str, Any]] = [
    {
        "name": "nlp",
        "hosting": Hosting.CLOUD,
        "cloud_provider": "gcp",
        "cloud_region": "europe-west4",
    },
    {"name": "speech", "hosting": Hosting.OWNED, "country": "USA", "region": "CA", "pue": 1.4},
    {
        "name": "recsys",
        "hosting": Hosting.CLOUD,
        "cloud_provider": "aws",
        "cloud_region": "us-east-1",
    },
    {"name": "sandbox", "hosting": Hosting.COLOCATED},
]
RUN_PLACES: list[dict[str, Any]] = [
    {},
    {},
    {"country": "DEU"},
    {"country": "USA", "region": "TX"},
    {"cloud_provider": "azure", "cloud_region": "westeurope"},
    {"cloud_provider": "gcp", "cloud_region": "us-central1"},
    {"cloud_provider": "aws", "cloud_region": "eu-north-1"},
    {"country": "FRA", "pue": 1.25},
]
# Interval lengths in seconds: a few seconds, minutes, or hours (so that intervals cross
# hour and day boundaries), drawn in these proportions.
LENGTHS = [(1.0, 60.0), (60.0, 1800.0), (1800.0, 3 * 3600.0)]
OFFSETS = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-7, minutes=-30))]


@dataclass
class Posted:
    """What :func:`post_random_data` sent, for the test's own cross-checks."""

    first_day: date
    last_day: date
    run_ids: list[str]
    measurement_count: int
    energy_kwh: float


def _interval(
    rng: random.Random, start: datetime, length: float, rank: int, node: str, seq: int
) -> dict[str, Any]:
    """One measurement as a client sends it: energies from random powers over ``length``."""
    gpus = rng.choice([0, 1, 1, 2, 4, 8])
    gpu_w = gpus * rng.uniform(60.0, 700.0)
    cpu_w = rng.uniform(15.0, 350.0)
    ram_w = rng.uniform(3.0, 60.0)
    to_kwh = length / 3_600_000.0
    end = start + timedelta(seconds=length)
    zone = rng.choice(OFFSETS)
    item: dict[str, Any] = {
        "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "seq": seq,
        "node": node,
        "rank": rank,
        # Clients send local times with their offset; the hub must read them as instants.
        "start": start.astimezone(zone).isoformat(),
        "end": end.astimezone(zone).isoformat(),
        "duration_s": length,
        "cpu_energy_kwh": cpu_w * to_kwh,
        "gpu_energy_kwh": gpu_w * to_kwh,
        "ram_energy_kwh": ram_w * to_kwh,
        "cpu_power_w": cpu_w,
        "gpu_power_w": gpu_w if gpus else None,
        "ram_power_w": ram_w,
        "cpu_method": rng.choice(["rapl", "rapl", "tdp_model"]),
        "gpu_method": rng.choice(["nvml_energy", "nvml_power"]) if gpus else "none",
        "ram_method": rng.choice(["constant", "constant", "imported"]),
        "gpu_count": gpus,
    }
    return item


def post_random_data(cast: Cast, seed: int, first_day: date, days: int) -> Posted:
    """Projects in several places, experiments and runs of several ranks, posted through
    ``/api/v1`` with ingest keys: intervals of random lengths (seconds to hours, crossing
    hour and day boundaries), local time offsets, a resent batch, finished, failed and
    still running runs; and a run in the other organisation that no figure may count.

    Every interval lies inside ``[first_day, first_day + days)``.
    """
    rng = random.Random(seed)
    client = Client()
    period_start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC)
    period_end = period_start + timedelta(days=days)
    keys: list[tuple[Project, str]] = [(cast.project, cast.ingest_key)]
    for spec in PROJECT_SPECS:
        project = Project.objects.create(organisation=cast.org, **spec)
        _, key = ApiKey.issue(project, "ingest", "reconciliation")
        keys.append((project, key))
    experiments = ["baseline", "ablation", "sweep"]
    run_ids: list[str] = []
    count = 0
    energy = 0.0
    n = 0
    for project, key in keys:
        for e, exp in enumerate(experiments[: rng.randint(1, 3)]):
            for i in range(rng.randint(1, 4)):
                n += 1
                # The first run of a project says nothing of where it ran (the project's
                # place applies; none for the sandbox: the world average).
                place = {} if e == i == 0 else rng.choice(RUN_PLACES)
                ranks = rng.choice([1, 1, 2, 3, 4])
                started = period_start + timedelta(seconds=rng.uniform(0, (days - 1.5) * 86400.0))
                # A run lasts from seconds to about a day, never past the period's end.
                hours = rng.choice([0.01, 0.5, 2.0, 7.0, 20.0, 30.0])
                stop = min(started + timedelta(hours=hours), period_end - timedelta(minutes=1))
                body = {
                    "run_key": f"job-{n}",
                    "experiment": exp,
                    "rank_count": ranks,
                    "node_count": 2 if ranks > 2 else 1,
                    "started_at": started.isoformat(),
                    "hardware": {"gpu_model": "NVIDIA A100-SXM4-80GB", "gpu_count": 8},
                    **place,
                }
                r = api(client, "post", "/api/v1/runs", key, body)
                assert r.status_code == 201, r.content
                run_id = r.json()["id"]
                run_ids.append(run_id)
                items = []
                for rank in range(ranks):
                    node = "node-b" if rank >= 2 else "node-a"
                    t = started + timedelta(seconds=rng.uniform(0.0, 30.0) * rank)
                    seq = 0
                    while t < stop:
                        lo, hi = rng.choices(LENGTHS, weights=[2, 3, 2])[0]
                        length = min(rng.uniform(lo, hi), (stop - t).total_seconds())
                        length = round(length, 3)
                        if length <= 0:
                            break
                        items.append(_interval(rng, t, length, rank, node, seq))
                        seq += 1
                        # Sometimes a gap of a few seconds, as when a client restarts.
                        t += timedelta(seconds=length + rng.choice([0, 0, 0, rng.uniform(1, 20)]))
                if rng.random() < 0.2:
                    # A zero-length interval holding nothing: counted, worth nothing.
                    edge = {**_interval(rng, started, 1.0, 0, "node-a", 10_000), "duration_s": 0.0}
                    edge["end"] = edge["start"]
                    for comp in ("cpu", "gpu", "ram"):
                        edge[f"{comp}_energy_kwh"] = 0.0
                    items.append(edge)
                rng.shuffle(items)
                url = f"/api/v1/runs/{run_id}/measurements"
                half = len(items) // 2
                for batch in (items[:half], items[half:], items[:half]):  # the last is resent
                    if not batch:
                        continue
                    r = api(client, "post", url, key, {"measurements": batch})
                    assert r.status_code == 200, r.content
                count += len(items)
                energy += sum(
                    i["cpu_energy_kwh"] + i["gpu_energy_kwh"] + i["ram_energy_kwh"] for i in items
                )
                fate = rng.random()
                if fate < 0.7:
                    finish = {"status": "finished", "metrics": {"accuracy": round(rng.random(), 4)}}
                elif fate < 0.9:
                    finish = {"status": "failed"}
                else:
                    continue  # still running
                r = api(client, "post", f"/api/v1/runs/{run_id}/finish", key, finish)
                assert r.status_code == 200, r.content
    # Intervals on the hour: one filling an hour, one ending at midnight, one starting
    # at it, and an empty one at an hour's very start.
    midnight = period_start + timedelta(days=3)
    r = api(
        client,
        "post",
        "/api/v1/runs",
        cast.ingest_key,
        {"run_key": "on-the-hour", "experiment": "baseline"},
    )
    assert r.status_code == 201, r.content
    on_hour = r.json()["id"]
    run_ids.append(on_hour)
    aligned = []
    for seq, (begin, length) in enumerate(
        [(-7200, 3600.0), (-3600, 3600.0), (0, 1800.0), (1800, 0.0)]
    ):
        item = _interval(rng, midnight + timedelta(seconds=begin), length or 1.0, 0, "node-a", seq)
        if not length:
            item.update(
                end=item["start"],
                duration_s=0.0,
                cpu_energy_kwh=0.0,
                gpu_energy_kwh=0.0,
                ram_energy_kwh=0.0,
            )
        aligned.append(item)
    r = api(
        client,
        "post",
        f"/api/v1/runs/{on_hour}/measurements",
        cast.ingest_key,
        {"measurements": aligned},
    )
    assert r.status_code == 200, r.content
    count += len(aligned)
    energy += sum(i["cpu_energy_kwh"] + i["gpu_energy_kwh"] + i["ram_energy_kwh"] for i in aligned)
    # What the client predicted after two of ten epochs, shown on the run page.
    guess = {"epochs_done": 2, "epochs_total": 10, "predicted_energy_kwh": 1.2345678}
    r = api(client, "post", f"/api/v1/runs/{on_hour}/prediction", cast.ingest_key, guess)
    assert r.status_code == 200, r.content
    r = api(
        client, "post", f"/api/v1/runs/{on_hour}/finish", cast.ingest_key, {"status": "finished"}
    )
    assert r.status_code == 200, r.content
    # A CodeCarbon tracker, through the CodeCarbon-compatible API: intervals of two
    # minutes to an hour and a half, ending at each POST's timestamp, some across hours.
    cc_key = keys[3][1]
    body = {
        "timestamp": (period_start + timedelta(days=2, hours=21, minutes=13)).isoformat(),
        "experiment_id": "5b0fa12a-3dd7-45bb-9766-cc326314d9f1",
        "codecarbon_version": "3.3.2",
        "gpu_count": 1,
        "gpu_model": "1 x NVIDIA L4",
        "ram_total_size": 62.7,
    }
    r = client.post(
        "/api/codecarbon/runs", json.dumps(body), "application/json", HTTP_X_API_TOKEN=cc_key
    )
    assert r.status_code == 201, r.content
    cc_run = r.json()["id"]
    run_ids.append(cc_run)
    end = period_start + timedelta(days=2, hours=21, minutes=13)
    for _ in range(8):
        seconds = float(rng.randint(120, 5400))
        end += timedelta(seconds=seconds)
        cpu, gpu, ram = (w * seconds / 3_600_000.0 for w in (42.5, 65.0, 23.5))
        emission = {
            "timestamp": end.isoformat(),
            "run_id": cc_run,
            "duration": seconds,
            "emissions_sum": 0.0004 * seconds / 120,
            "cpu_power": 42.5,
            "gpu_power": 65.0,
            "ram_power": 23.5,
            "cpu_energy": cpu,
            "gpu_energy": gpu,
            "ram_energy": ram,
            "energy_consumed": cpu + gpu + ram,
        }
        r = client.post(
            "/api/codecarbon/emissions",
            json.dumps(emission),
            "application/json",
            HTTP_X_API_TOKEN=cc_key,
        )
        assert r.status_code == 201, r.content
        count += 1
        energy += cpu + gpu + ram
    # A job that failed before its first interval: a run without measurements, which the
    # client finishes with the moment it stopped.
    began = period_start + timedelta(days=1, hours=3, minutes=7)
    r = api(
        client,
        "post",
        "/api/v1/runs",
        cast.ingest_key,
        {"run_key": "crashed-at-start", "experiment": "baseline", "started_at": began.isoformat()},
    )
    assert r.status_code == 201, r.content
    run_ids.append(r.json()["id"])
    ended = {"status": "failed", "ended_at": (began + timedelta(minutes=4, seconds=30)).isoformat()}
    r = api(client, "post", f"/api/v1/runs/{r.json()['id']}/finish", cast.ingest_key, ended)
    assert r.status_code == 200, r.content
    # The other organisation's run, in the same hours: it must not reach any figure here.
    r = api(client, "post", "/api/v1/runs", cast.other_ingest_key, {"run_key": "theirs"})
    assert r.status_code == 201, r.content
    theirs = [
        _interval(rng, period_start + timedelta(hours=5, minutes=m), 600.0, 0, "x", m)
        for m in range(0, 60, 10)
    ]
    r = api(
        client,
        "post",
        f"/api/v1/runs/{r.json()['id']}/measurements",
        cast.other_ingest_key,
        {"measurements": theirs},
    )
    assert r.status_code == 200, r.content
    return Posted(first_day, first_day + timedelta(days=days - 1), run_ids, count, energy)


# --- reports --------------------------------------------------------------------------------


@dataclass
class ReportFiles:
    """The four formats of one report, read."""

    json: dict[str, Any]
    csv_rows: list[dict[str, str]]
    summary: dict[str, Any]
    projects: dict[str, list[Any]]
    pdf_text: str


def generate_report(
    client: Client, org_uuid: str, first_day: date, last_day: date, capture: Any
) -> Report:
    """Ask for a report of the whole organisation over a custom range of days, through the
    report page (the task runs when the transaction commits, as in production)."""
    with capture(execute=True):
        response = client.post(
            f"/reports/?org={org_uuid}",
            {
                "org": org_uuid,
                "period_kind": "custom",
                "start": first_day.isoformat(),
                "end": last_day.isoformat(),
                "scope": "all",
            },
        )
    assert response.status_code == 302, response.content[:2000]
    report = Report.objects.order_by("-id").first()
    assert report is not None
    assert report.status == ReportStatus.DONE, report.error
    return report


def read_report(client: Client, report: Report) -> ReportFiles:
    """Download every format of ``report`` as a user would and read it."""

    def download(fmt: str) -> bytes:
        response = client.get(f"/reports/{report.uuid}/download/{fmt}")
        assert response.status_code == 200, (fmt, response.status_code)
        return bytes(response.content)

    doc = json.loads(download("json"))
    rows = list(csv.DictReader(io.StringIO(download("csv").decode("utf-8"))))
    wb = load_workbook(io.BytesIO(download("xlsx")), data_only=True)
    summary = {
        str(row[0].value): row[1].value
        for row in wb["Summary"].iter_rows(min_row=5)
        if row[0].value is not None and len(row) > 1
    }
    projects = {
        str(row[0].value): [c.value for c in row]
        for row in wb["Projects"].iter_rows(min_row=2)
        if row[0].value
    }
    reader = PdfReader(io.BytesIO(download("pdf")))
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    return ReportFiles(doc["data"], rows, summary, projects, text)
