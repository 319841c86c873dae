"""CodeCarbon ``emissions.csv`` (versions 2.x and 3.x).

Every version writes one row per ``flush()`` and per ``stop()`` of a tracker, and each
row holds the *cumulative* totals of its run (``run_id``) since the tracker started. A run
stopped once is one row; a run flushed twice and stopped is three rows of the same
``run_id``. The hub turns successive rows of a run into the deltas between them and
derives each delta's UUID from the cumulative values that bound it: re-uploading the same
file, or a later copy with more rows, stores only what is new.

Times: ``duration`` is exact (seconds since the tracker started) but ``timestamp`` is cut
to the whole second, so intervals placed at each row's timestamp would overlap or leave
gaps of up to a second. The tracker's start is taken once, from the run's first row
(``timestamp - duration``, which a later copy of the file still has), and each delta is
``[start + previous duration, start + duration]``: the intervals follow each other and
the run lasts exactly CodeCarbon's ``duration``.

Column sets handled (any order; optional columns may be missing):
- 2.0-2.1: timestamp, project_name, run_id, duration, emissions, emissions_rate,
  cpu_power, gpu_power, ram_power, cpu_energy, gpu_energy, ram_energy, energy_consumed,
  country_name, country_iso_code, region, cloud_provider, cloud_region, os,
  python_version, cpu_count, cpu_model, gpu_count, gpu_model, longitude, latitude,
  ram_total_size, tracking_mode, on_cloud
- 2.2+: the above plus codecarbon_version, pue
- 3.x: the above plus experiment_id, water_consumed, cpu/gpu/ram_utilization_percent,
  ram_used_gb, wue

CodeCarbon multiplies what it measures by its ``pue`` setting (default 1) before it adds it
up: every component's energy, hence ``energy_consumed`` and ``emissions``, since 2.2.3,
and the power columns as well since 3.3.1 (checked in the released packages' source).
The hub stores IT energy and applies its own PUE, so it divides each row's energies (and,
for 3.3.1 and later, powers) by the row's ``pue`` and records that on the run
(``params["source_pue"]``). Files without the column (2.0 to 2.2.2) had no PUE applied.
``emissions`` and ``energy_consumed`` stay as CodeCarbon wrote them: they are its own,
client-reported figures.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from api.importers.common import (
    EXPERIMENT_NAME_LEN,
    RUN_NAME_LEN,
    Location,
    Parsed,
    Row,
    RunInfo,
    Skipped,
    SourcePue,
    check_source_pue,
    codecarbon_pue,
    csv_header,
    csv_rows,
    derived_uuid,
    fit,
    number,
    run_key,
    shifted,
    text,
    usable_location,
)
from api.models import Experiment, ImportFormat, Project
from api.schema import parse_time

REQUIRED = ("timestamp", "run_id", "duration", "cpu_energy", "gpu_energy", "ram_energy")
SIGNATURE = {"run_id", "duration", "energy_consumed", "cpu_energy", "emissions"}
# Cumulative counters can go down by float noise between two rows of one run.
NOISE_KWH = 1e-9
# Where a row's PUE comes from when the file states it.
PUE_COLUMN = "the file's pue column"


def looks_like(header: list[str]) -> bool:
    return {h.strip() for h in header} >= SIGNATURE


@dataclass
class _Snapshot:
    line: int
    raw: dict[str, str]
    run_id: str
    end: datetime
    duration: float
    # Cumulative IT energies: the row's, divided by the PUE CodeCarbon applied.
    energies: dict[str, float]
    energy_consumed: float | None
    emissions: float | None
    source: SourcePue


def parse(data: str, project: Project) -> Parsed:
    parsed = Parsed(format=ImportFormat.CODECARBON)
    rows = csv_rows(data, parsed)
    header = csv_header(rows, parsed)
    if header is None:
        return parsed
    header = [h.strip() for h in header]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        parsed.skipped.append(
            Skipped(1, f"not a CodeCarbon emissions.csv: missing column(s) {', '.join(missing)}")
        )
        return parsed
    snapshots: dict[str, list[_Snapshot]] = {}
    seen: set[tuple[str, str, str]] = set()
    for line, cells in rows:
        if not any(c.strip() for c in cells):
            continue  # blank line
        # A short row's missing cells are None, as csv.DictReader gives them.
        raw: dict[str, Any] = {
            h: cells[i] if i < len(cells) else None for i, h in enumerate(header)
        }
        try:
            snap = _snapshot(line, raw)
        except (ValueError, OverflowError) as exc:
            parsed.skipped.append(Skipped(line, str(exc)))
            continue
        # The same snapshot twice (a file concatenated with itself) is one snapshot.
        same = (snap.run_id, raw.get("duration", ""), raw.get("energy_consumed", ""))
        if same in seen:
            continue
        seen.add(same)
        snapshots.setdefault(snap.run_id, []).append(snap)
    experiments = {str(e.uuid): e.name for e in Experiment.objects.filter(project=project)}
    locations: dict[tuple[str, str, str, str], Location] = {}
    for run_id, snaps in snapshots.items():
        snaps.sort(
            key=lambda s: (s.duration, s.energies["cpu"] + s.energies["gpu"] + s.energies["ram"])
        )
        snaps = _one_pue(snaps, parsed)
        key = run_key("codecarbon-csv", run_id)
        parsed.runs[key] = _run_info(key, snaps[-1], experiments, locations)
        started = snaps[0].end - timedelta(seconds=snaps[0].duration)
        previous: _Snapshot | None = None
        for snap in snaps:
            row = _delta(key, started, previous, snap, parsed)
            if row is not None:
                parsed.rows.append(row)
                previous = snap
    return parsed


def _snapshot(line: int, raw: dict[str, Any]) -> _Snapshot:
    errors: dict[str, str] = {}
    end = parse_time(text(raw.get("timestamp")), "timestamp", errors)
    if end is None:
        raise ValueError(f"timestamp {errors['timestamp']}")
    run_id = text(raw.get("run_id"), 1000)
    if not run_id:
        if str(raw.get("run_id", "")).strip() == "None":
            # CodeCarbon 3.x writes "None" when output_methods also has "api": its rows
            # cannot be told apart, and the run was sent to that API already.
            raise ValueError(
                "run_id is 'None': CodeCarbon writes this when the run was also sent to an API "
                "(output_methods csv,api); such a run is already in the hub if the API was this hub"
            )
        raise ValueError("run_id is empty")
    values: dict[str, float | None] = {}
    for name in (
        "duration",
        "cpu_energy",
        "gpu_energy",
        "ram_energy",
        "energy_consumed",
        "emissions",
    ):
        try:
            values[name] = number(raw.get(name))
        except ValueError:
            raise ValueError(f"{name} {raw.get(name)!r} is not a number") from None
        if values[name] is not None and values[name] < 0:  # type: ignore[operator]
            raise ValueError(f"{name} is negative ({values[name]:g})")
    duration = values["duration"]
    if duration is None:
        raise ValueError("duration is empty")
    # The tracker's start, which every delta of the run is placed from.
    shifted(end, -duration, "timestamp - duration (when the tracker started)")
    source = _source_pue(raw)
    energies = {c: source.it_energy(values[f"{c}_energy"] or 0.0) for c in ("cpu", "gpu", "ram")}
    return _Snapshot(
        line,
        raw,
        run_id,
        end,
        duration,
        energies,
        values["energy_consumed"],
        values["emissions"],
        source,
    )


def _source_pue(raw: dict[str, Any]) -> SourcePue:
    """The PUE CodeCarbon multiplied this row by: its ``pue`` column, 1 without one."""
    version = text(raw.get("codecarbon_version"))
    if "pue" not in raw:
        # 2.0 to 2.2.2 have no pue column, and applied none.
        return codecarbon_pue(1.0, version, "no pue column: CodeCarbon before 2.2.3")
    try:
        pue = number(raw.get("pue"))
    except ValueError:
        raise ValueError(f"pue {raw.get('pue')!r} is not a number") from None
    if pue is None:
        return codecarbon_pue(1.0, version, "empty pue cell: CodeCarbon's default, 1")
    return codecarbon_pue(check_source_pue(pue), version, PUE_COLUMN)


def _one_pue(snaps: list[_Snapshot], parsed: Parsed) -> list[_Snapshot]:
    """The rows of a run that share its first row's PUE; the others are skipped.

    CodeCarbon sets its PUE once per tracker, and cumulative rows divided by different
    PUEs could not be subtracted from each other."""
    first = snaps[0]
    kept = [first]
    for snap in snaps[1:]:
        if snap.source.pue == first.source.pue:
            kept.append(snap)
        else:
            parsed.skipped.append(
                Skipped(
                    snap.line,
                    f"pue {snap.source.pue:g} differs from {first.source.pue:g} (line {first.line}) "
                    f"for run {snap.run_id}; CodeCarbon sets its PUE once per tracker",
                )
            )
    return kept


def _run_info(
    run_key: str,
    last: _Snapshot,
    experiments: dict[str, str],
    locations: dict[tuple[str, str, str, str], Location],
) -> RunInfo:
    raw = last.raw
    on_cloud = text(raw.get("on_cloud")).upper() == "Y"
    where = (
        text(raw.get("country_iso_code"), 3),
        text(raw.get("region"), 20),
        text(raw.get("cloud_provider"), 20) if on_cloud else "",
        text(raw.get("cloud_region"), 40) if on_cloud else "",
    )
    if where not in locations:
        locations[where] = usable_location(*where)
    project_name = fit(text(raw.get("project_name"), 1000), EXPERIMENT_NAME_LEN) or "codecarbon"
    # A v3 experiment_id that is one of this project's experiments wins; CodeCarbon's
    # default (or a codecarbon.io id) does not mean anything here.
    experiment = experiments.get(text(raw.get("experiment_id")).lower(), project_name)
    hardware: dict[str, Any] = {}
    for name, key in (("cpu_model", "cpu_model"), ("gpu_model", "gpu_model")):
        if text(raw.get(name)):
            hardware[key] = text(raw.get(name))
    for name, key in (("cpu_count", "cpu_count"), ("gpu_count", "gpu_count")):
        value = _safe_number(raw.get(name))
        if value is not None:
            hardware[key] = int(value)
    ram = _safe_number(raw.get("ram_total_size"))
    if ram is not None:
        hardware["ram_gb"] = ram
    software = {
        k: text(raw.get(k))
        for k in ("os", "python_version", "codecarbon_version", "tracking_mode")
        if text(raw.get(k))
    }
    params: dict[str, Any] = {
        "codecarbon_run_id": last.run_id,
        "codecarbon_project_name": project_name,
    }
    if last.source.stated == PUE_COLUMN:
        params["codecarbon_pue"] = last.source.pue
    params["source_pue"] = last.source.record()
    if locations[where].note:
        params["location_note"] = locations[where].note
    return RunInfo(
        run_key=run_key,
        experiment=experiment,
        name=f"{fit(project_name, RUN_NAME_LEN - 9)} {last.run_id[:8]}",
        location=locations[where],
        hardware=hardware,
        software=software,
        params=params,
    )


def _safe_number(raw: Any) -> float | None:
    try:
        return number(raw)
    except ValueError:
        return None


def _delta(
    run_key: str, started: datetime, previous: _Snapshot | None, snap: _Snapshot, parsed: Parsed
) -> Row | None:
    raw = snap.raw
    prev_duration = previous.duration if previous else 0.0
    span = snap.duration - prev_duration
    energies: dict[str, float] = {}
    for comp in ("cpu", "gpu", "ram"):
        delta = snap.energies[comp] - (previous.energies[comp] if previous else 0.0)
        if delta < -NOISE_KWH:
            parsed.skipped.append(
                Skipped(
                    snap.line,
                    f"{comp}_energy goes down from {previous.energies[comp]:g} (line {previous.line}) "  # type: ignore[union-attr]
                    f"to {snap.energies[comp]:g} for run {snap.run_id}; cumulative rows cannot decrease",
                )
            )
            return None
        energies[comp] = max(delta, 0.0)
    if span <= 0 and previous is not None:
        if sum(energies.values()) <= NOISE_KWH:
            return None  # a repeated snapshot: nothing new
        parsed.skipped.append(
            Skipped(
                snap.line,
                f"duration does not grow after line {previous.line} for run {snap.run_id}",
            )
        )
        return None

    def _diff(now: float | None, before: float | None) -> float | None:
        if now is None:
            return None
        return max(now - (before or 0.0), 0.0)

    client_kg = _diff(snap.emissions, previous.emissions if previous else None)
    client_kwh = _diff(snap.energy_consumed, previous.energy_consumed if previous else None)
    # 3.3.1 and later report power with CodeCarbon's PUE in it, as they do energy.
    powers = {
        c: snap.source.it_power(_safe_number(raw.get(f"{c}_power"))) for c in ("cpu", "gpu", "ram")
    }
    utilization = {
        c: _safe_number(raw.get(f"{c}_utilization_percent")) for c in ("cpu", "gpu", "ram")
    }
    gpu_count = int(_safe_number(raw.get("gpu_count")) or 0)
    row_uuid: uuidlib.UUID = derived_uuid(
        "codecarbon-csv",
        snap.run_id,
        previous.raw.get("duration") if previous else "",
        raw.get("duration"),
        raw.get("cpu_energy"),
        raw.get("gpu_energy"),
        raw.get("ram_energy"),
    )
    return Row(
        line=snap.line,
        run_key=run_key,
        uuid=row_uuid,
        start=started + timedelta(seconds=prev_duration),
        end=started + timedelta(seconds=snap.duration),
        energies=energies,
        powers=powers,
        utilization=utilization,
        gpu_count=max(gpu_count, 1) if energies["gpu"] > 0 else 0,
        client_emissions_kg=client_kg,
        client_energy_kwh=client_kwh,
    )
