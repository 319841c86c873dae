"""What every importer shares: parsed rows, locations, deterministic UUIDs, and the one
transaction that turns parsed rows into runs and measurements through ``api.ingest``."""

from __future__ import annotations

import csv
import io
import math
import re
import uuid as uuidlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import models, transaction

from api import ingest, schema
from api.accounting import LocationError, place
from api.models import Experiment, Project, Run, RunSource, RunStatus
from api.schema import MAX_SOURCE_PUE, MeasurementIn, measurement

# Namespace of every UUID the hub derives for foreign data (CodeCarbon posts, file rows):
# the same input always gives the same UUID, so a resend or a re-upload counts once.
FOREIGN_NS = uuidlib.UUID("0b7c4f0e-5d0a-5b57-9c4e-6d2f1f0c8a11")


def derived_uuid(*parts: Any) -> uuidlib.UUID:
    """A UUID that depends only on ``parts`` (their ``str``), for idempotent ingestion."""
    return uuidlib.uuid5(FOREIGN_NS, "|".join(str(p) for p in parts))


def number(raw: Any) -> float | None:
    """A float from a CSV cell or JSON value; None for empty, 'N/A' or 'nan'."""
    if raw is None or isinstance(raw, bool):
        return None
    try:
        if isinstance(raw, int | float):
            value = float(raw)
        else:
            text = str(raw).strip()
            if not text or text.lower() in {"n/a", "na", "nan", "none", "null"}:
                return None
            value = float(text)  # ValueError is reported by the caller with the line number
    except OverflowError as exc:
        raise ValueError(f"{str(raw)[:20]}… is too large a number") from exc
    if not math.isfinite(value):
        raise ValueError(f"{str(raw)[:20]} is not a finite number")
    return value


def text(raw: Any, max_len: int = 200) -> str:
    if raw is None:
        return ""
    # NUL cannot be stored in PostgreSQL text; it is never meaningful in these files.
    value = str(raw).replace("\x00", "").strip()
    if value.lower() in {"nan", "n/a", "none", "null"}:
        return ""
    return value[:max_len]


# --- what a file may hold --------------------------------------------------------------------
#
# A file is foreign input: a cell too long for the csv module, a NUL character, a date no
# calendar holds or a name longer than its column turns into a skipped line with its
# reason (or, for the header, a refused file), never into an error page.


def _column(model: type[models.Model], name: str) -> int:
    column = model._meta.get_field(name)
    assert isinstance(column, models.CharField) and column.max_length
    return column.max_length


RUN_KEY_LEN = _column(Run, "run_key")
RUN_NAME_LEN = _column(Run, "name")
EXPERIMENT_NAME_LEN = _column(Experiment, "name")
# The longest reason kept for a skipped line (reasons quote the cells they refuse).
REASON_LEN = 500
NUL_REASON = (
    "contains a NUL character (\\u0000), which the hub does not store: is the file damaged?"
)
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def fit(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters, the cut marked by an ellipsis.

    Names built from a file's content (experiment and run names) are cut rather than
    refused: the measurements are what matters, and the whole text stays in the file."""
    return value if len(value) <= limit else value[: limit - 1] + "\u2026"


def run_key(prefix: str, ident: str) -> str:
    """The run key of a tool's run id: ``prefix:ident``. An id too long for the column is
    cut and followed by a hash of the whole key, so two long ids never share a run."""
    key = f"{prefix}:{ident}"
    if len(key) <= RUN_KEY_LEN:
        return key
    return f"{key[: RUN_KEY_LEN - 37]}\u2026{derived_uuid(key)}"


def printable(value: str) -> str:
    """A file name as the hub can store and show it: without NUL characters, and each lone
    surrogate (a name that was not UTF-8 on disk) replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", value.replace("\x00", ""))


def plausible_time(moment: datetime, what: str) -> datetime:
    """``moment`` if the hub accepts it (``api.schema.time_problem``, the bound of every
    timestamp on every path), ValueError naming ``what`` otherwise."""
    problem = schema.time_problem(moment)
    if problem:
        raise ValueError(f"{what} {problem}")
    return moment


def shifted(moment: datetime, seconds: float, what: str) -> datetime:
    """``moment`` moved by ``seconds``, checked by :func:`plausible_time`."""
    try:
        return plausible_time(moment + timedelta(seconds=seconds), what)
    except OverflowError:
        raise ValueError(
            f"{what} is outside any calendar ({moment.isoformat()} {seconds:+g} s)"
        ) from None


def csv_rows(data: str, parsed: Parsed) -> Iterator[tuple[int, list[str]]]:
    """Each row of a CSV text with its line number. A row the csv module cannot read, or
    one with a NUL character, is skipped with its line in ``parsed`` and the next is read."""
    reader = csv.reader(io.StringIO(data))
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field limit" in str(exc):
                reason = f"has a cell longer than {csv.field_size_limit():,} characters, the most the hub reads"
            else:
                reason = f"cannot be read as CSV ({exc})"
            parsed.skipped.append(Skipped(reader.line_num, reason))
            continue
        if any("\x00" in cell for cell in cells):
            parsed.skipped.append(Skipped(reader.line_num, NUL_REASON))
            continue
        yield reader.line_num, cells


def csv_header(rows: Iterator[tuple[int, list[str]]], parsed: Parsed) -> list[str] | None:
    """The header row of :func:`csv_rows`, or None (the reason in ``parsed``, line 1) when
    the first line is missing or unreadable."""
    first = next(rows, None)
    if first is None or parsed.skipped:
        reason = parsed.skipped[0].reason if parsed.skipped else "is missing: the file is empty"
        parsed.skipped[:] = [Skipped(1, f"the header line {reason}")]
        return None
    return first[1]


# --- the PUE a foreign tool applied -----------------------------------------------------------
#
# The hub stores IT energy and applies its own PUE. CodeCarbon (pue setting, default 1),
# CarbonTracker (a fixed survey PUE) and Eco2AI (pue setting, default 1) multiply what they
# measured by a PUE before they write it; the hub divides it out again, so a run never
# gets a PUE twice, and records on the run what it did (``params["source_pue"]``).

# A tool's PUE above ``api.schema.MAX_SOURCE_PUE`` (the one bound of the PUE a foreign tool
# applied) is a typing mistake, not a facility (published PUEs are 1.0-2.5).

# CodeCarbon multiplies each component's energy by its pue since 2.2.3 (mlco2/codecarbon
# pull request 398), and the reported power as well since 3.3.1 (pull request 1332).
CODECARBON_POWER_PUE_SINCE = (3, 3, 1)


def version_tuple(raw: Any) -> tuple[int, ...] | None:
    """``(3, 3, 2)`` from ``"3.3.2"`` (or ``"3.3.2rc1"``); None when it is no version."""
    parts: list[int] = []
    for piece in str(raw or "").strip().split(".")[:3]:
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) if parts else None


def check_source_pue(value: float, what: str = "pue") -> float:
    """``value`` if it can be a PUE a tool multiplied by; ValueError otherwise."""
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"{what} {value:g} is not a positive number; the energy cannot be recovered"
        )
    if value > MAX_SOURCE_PUE:
        raise ValueError(f"{what} {value:g} is above {MAX_SOURCE_PUE:g}: not a data-centre PUE")
    return value


@dataclass(frozen=True)
class SourcePue:
    """The PUE a tool multiplied its figures by, where the hub got it, and how to undo it."""

    tool: str
    pue: float
    # Where the figure comes from, in words: "the file's pue column", "assumed: ...".
    stated: str
    # Whether the tool scaled its power figures too (CodeCarbon 3.3.1 and later).
    powers: bool = False

    def it_energy(self, kwh: float) -> float:
        """IT energy from the tool's energy (which includes its PUE)."""
        return kwh / self.pue

    def it_power(self, watts: float | None) -> float | None:
        if watts is None or not self.powers:
            return watts
        return watts / self.pue

    @property
    def note(self) -> str:
        if self.pue == 1:
            return (
                f"{self.tool}'s energies are taken as IT energy: its PUE is 1 ({self.stated}); "
                "the hub applies its own PUE."
            )
        what = "energies and powers" if self.powers else "energies"
        return (
            f"{self.tool} multiplied its {what} by its PUE {self.pue:g} ({self.stated}); the hub "
            f"divided them by {self.pue:g} to store IT energy, and applies its own PUE."
        )

    def record(self) -> dict[str, Any]:
        """What the run keeps in ``params["source_pue"]`` (shown on the run page and API)."""
        return {
            "tool": self.tool,
            "pue": self.pue,
            "stated": self.stated,
            "divided": self.pue != 1,
            "powers_divided": self.powers and self.pue != 1,
            "note": self.note,
        }


def codecarbon_pue(pue: float, version: Any, stated: str) -> SourcePue:
    """The PUE a CodeCarbon tracker of that version applied (its ``pue`` setting)."""
    parsed = version_tuple(version)
    return SourcePue(
        "CodeCarbon",
        pue,
        stated,
        powers=parsed is not None and parsed >= CODECARBON_POWER_PUE_SINCE,
    )


@dataclass
class Location:
    country: str = ""
    region: str = ""
    cloud_provider: str = ""
    cloud_region: str = ""
    note: str = ""

    def as_run_data(self) -> dict[str, str]:
        return {
            "country": self.country,
            "region": self.region,
            "cloud_provider": self.cloud_provider,
            "cloud_region": self.cloud_region,
        }


def usable_location(
    country: str = "", region: str = "", cloud_provider: str = "", cloud_region: str = ""
) -> Location:
    """The most precise part of a foreign tool's location that the hub knows.

    Foreign tools write free text (CodeCarbon's region is a lower-case state name, its
    cloud fields are often empty), so instead of refusing the data we drop, in turn, the
    parts the hub cannot resolve and say so in ``note``. An empty result means "use the
    experiment's or the project's location".
    """
    if not (cloud_provider and cloud_region):
        # A provider without a region says nothing about the grid; it would only turn a
        # known project location into "world average".
        cloud_provider = cloud_region = ""
    candidates = [
        (country, region, cloud_provider, cloud_region),
        (country, "", cloud_provider, cloud_region),
        (country, "", "", ""),
    ]
    dropped: list[str] = []
    for c, r, p, cr in candidates:
        if not any((c, r, p, cr)):
            continue
        try:
            place(country=c, region=r, cloud_provider=p, cloud_region=cr, pue=None)
        except LocationError as exc:
            dropped.append(str(exc))
            continue
        note = "; ".join(dropped)
        return Location(c.upper(), r, p, cr, note)
    return Location(note="; ".join(dropped))


@dataclass
class Row:
    """One interval read from a file, ready for ``api.schema.measurement``."""

    line: int
    run_key: str
    uuid: uuidlib.UUID
    start: datetime
    end: datetime
    energies: dict[str, float]
    powers: dict[str, float | None] = field(default_factory=dict)
    utilization: dict[str, float | None] = field(default_factory=dict)
    gpu_count: int = 0
    epoch: int | None = None
    client_emissions_kg: float | None = None
    client_energy_kwh: float | None = None  # the tool's own total, PUE included


@dataclass
class RunInfo:
    """What a file says about one run; the first row of the run sets it."""

    run_key: str
    experiment: str = "default"
    name: str = ""
    location: Location = field(default_factory=Location)
    hardware: dict[str, Any] = field(default_factory=dict)
    software: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Skipped:
    line: int
    reason: str

    def __post_init__(self) -> None:
        self.reason = fit(self.reason, REASON_LEN)

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "reason": self.reason}


@dataclass
class Parsed:
    """The result of parsing a file: runs and their rows, and rows that were refused."""

    format: str
    runs: dict[str, RunInfo] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


@dataclass
class ImportedRun:
    run: Run
    created: bool
    accepted: int
    duplicates: int


@dataclass
class ImportReport:
    format: str
    accepted: int = 0
    duplicates: int = 0
    runs: list[ImportedRun] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    already_imported: datetime | None = None

    @property
    def row_count(self) -> int:
        return self.accepted + self.duplicates

    def as_dict(self, base_url: str = "") -> dict[str, Any]:
        return {
            "format": self.format,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "already_imported": self.already_imported.isoformat()
            if self.already_imported
            else None,
            "runs": [
                {
                    "id": str(r.run.uuid),
                    "run_key": r.run.run_key,
                    "experiment": r.run.experiment.name,
                    "created": r.created,
                    "accepted": r.accepted,
                    "duplicates": r.duplicates,
                    "energy_kwh": r.run.energy_kwh,
                    "emissions_kg": r.run.emissions_kg,
                    "url": f"{base_url}/api/v1/runs/{r.run.uuid}",
                }
                for r in self.runs
            ],
            "skipped": [s.as_dict() for s in self.skipped],
        }


def _pieces(row: Row) -> list[dict[str, Any]]:
    """Measurement dicts for a row, split in equal parts when a component is above the
    per-interval bound of ``api.ingest`` (a long multi-GPU run is one CSV row but can hold
    more than 100 kWh). Splitting assumes constant power, which is all a total tells."""
    worst = max(row.energies.values(), default=0.0)
    seconds = (row.end - row.start).total_seconds()
    # Refuse before splitting: an impossible energy would otherwise make millions of parts.
    if worst > 0 and (seconds <= 0 or worst * 3_600_000.0 / seconds > schema.MAX_POWER_W):
        raise schema.Invalid(
            "implausible energy",
            {
                "energy_kwh": f"{worst:g} kWh over {seconds:g} s is above {schema.MAX_POWER_W:,.0f} W"
            },
        )
    parts = max(1, math.ceil(worst / schema.MAX_INTERVAL_KWH)) if worst > 0 else 1
    span = (row.end - row.start) / parts
    total = sum(row.energies.values())
    out: list[dict[str, Any]] = []
    for i in range(parts):
        start = row.start + span * i
        end = row.end if i == parts - 1 else row.start + span * (i + 1)
        item: dict[str, Any] = {
            "uuid": row.uuid if parts == 1 else derived_uuid(row.uuid, i, parts),
            "start": start,
            "end": end,
            "duration_s": (end - start).total_seconds(),
            "gpu_count": row.gpu_count if row.energies.get("gpu", 0) > 0 else 0,
            "epoch": row.epoch,
            "seq": i,
        }
        for comp in schema.COMPONENTS:
            energy = row.energies.get(comp, 0.0) / parts
            item[f"{comp}_energy_kwh"] = energy
            if energy > 0:
                item[f"{comp}_method"] = "imported"
            power = row.powers.get(comp)
            if power is not None and power >= 0:
                item[f"{comp}_power_w"] = power
            util = row.utilization.get(comp)
            if util is not None and util >= 0:
                item[f"{comp}_utilization_pct"] = util
        if row.client_emissions_kg is not None:
            # The tool's own figure, split like the energy it belongs to.
            share = (
                sum(item[f"{c}_energy_kwh"] for c in schema.COMPONENTS) / total
                if total
                else 1 / parts
            )
            item["client_emissions_kg"] = row.client_emissions_kg * share
            if row.client_energy_kwh:
                item["client_intensity_g_per_kwh"] = (
                    row.client_emissions_kg / row.client_energy_kwh * 1000.0
                )
        out.append(item)
    return out


def clean_row(row: Row) -> list[MeasurementIn]:
    """The typed measurements of a row, with the same checks as the API; raise
    ``Invalid``."""
    return [measurement(item) for item in _pieces(row)]


def describe_invalid(exc: schema.Invalid) -> str:
    if exc.fields:
        return "; ".join(f"{k} {v}" for k, v in exc.fields.items())
    return exc.message


def ingest_parsed(project: Project, parsed: Parsed) -> ImportReport:
    """Store a parsed file: every valid row of it, or nothing if anything unexpected fails.

    A row imports wholly or is skipped and reported with its line number; the rows that
    are accepted go in under one transaction, so no half-imported file is left behind.
    """
    report = ImportReport(format=parsed.format, skipped=list(parsed.skipped))
    by_run: dict[str, list[tuple[Row, list[MeasurementIn]]]] = {}
    for row in parsed.rows:
        try:
            cleaned = clean_row(row)
        except schema.Invalid as exc:
            report.skipped.append(Skipped(row.line, describe_invalid(exc)))
            continue
        by_run.setdefault(row.run_key, []).append((row, cleaned))
    with transaction.atomic():
        for run_key, rows in by_run.items():
            info = parsed.runs[run_key]
            try:
                # A savepoint per run: a run the hub cannot place is skipped, not half-stored.
                with transaction.atomic():
                    imported = _ingest_run(project, info, rows)
            except schema.Invalid as exc:
                reason = describe_invalid(exc)
                report.skipped.extend(Skipped(row.line, reason) for row, _ in rows)
                continue
            report.runs.append(imported)
            report.accepted += imported.accepted
            report.duplicates += imported.duplicates
    report.skipped.sort(key=lambda s: s.line)
    return report


def _ingest_run(
    project: Project, info: RunInfo, rows: list[tuple[Row, list[MeasurementIn]]]
) -> ImportedRun:
    batch = [m for _, cleaned in rows for m in cleaned]
    first = min(m.start for m in batch)
    last = max(m.end for m in batch)
    data: dict[str, Any] = {
        "run_key": info.run_key,
        "experiment": info.experiment,
        "name": info.name,
        "hardware": info.hardware,
        "software": info.software,
        "params": info.params,
        "started_at": first,
        **info.location.as_run_data(),
    }
    run, created = ingest.get_or_create_run(project, data, source=RunSource.IMPORT)
    if not created and needs_pue_repair(run):
        # Its stored rows still hold CodeCarbon's PUE; new rows would not, and the repair
        # would then divide them twice.
        raise schema.Invalid(
            f"run {run.run_key!r} was imported before the hub divided out CodeCarbon's PUE: "
            "run `python manage.py repair_imported_pue` first, then import this file again"
        )
    result = ingest.ingest_measurements(run, batch)
    if run.status != RunStatus.FINISHED or (run.ended_at and run.ended_at < last):
        run = run.finish(RunStatus.FINISHED, None, max(last, run.last_end or last))
    return ImportedRun(run, created, result.accepted, result.duplicates)


def pue_to_repair(run: Any) -> float | None:
    """The CodeCarbon PUE above 1 still inside a run's energies (imported before the hub
    divided it out), or None."""
    params = run.params or {}
    if "source_pue" in params or "codecarbon_pue" not in params:
        return None
    try:
        pue = float(params["codecarbon_pue"])
    except (TypeError, ValueError):
        return None
    return pue if pue > 1 else None


def needs_pue_repair(run: Any) -> bool:
    """A CodeCarbon run imported before the hub divided out CodeCarbon's PUE above 1."""
    return pue_to_repair(run) is not None


def end_minus(end: datetime, seconds: float) -> datetime:
    return end - timedelta(seconds=seconds)
