"""Eco2AI CSV (``emission.csv``).

Columns: ``id, project_name, experiment_description, epoch, start_time, duration(s),
power_consumption(kWh), CO2_emissions(kg), CPU_name, GPU_name, OS, region/country, cost``
(older releases name the description ``experiment_description(model type etc.)``; newer
ones with ``device_consumption`` add ``CPU_consumption(kWh)``, ``GPU_consumption(kWh)``,
``RAM_consumption(kWh)``). One tracker is one ``id``. Outside training a tracker keeps
one row that it rewrites with its running totals; in training mode it adds one row per
epoch (``epoch: 3, loss: 0.2, ...``), each with its own start time and consumption.
So every row is one interval ``[start_time, start_time + duration]``; ``start_time`` is
local time without a zone and is read as UTC. A row's UUID is derived from its tracker,
epoch and start time, so a later copy of the file with a rewritten (longer) row is a
duplicate, not a second interval.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

from api.importers.common import (
    Location,
    Parsed,
    Row,
    RunInfo,
    Skipped,
    derived_uuid,
    number,
    text,
    usable_location,
)
from api.ingest import parse_time
from api.models import ImportFormat

COLUMNS = {
    "id": "id",
    "project_name": "project_name",
    "experiment_description": "description",
    "epoch": "epoch",
    "start_time": "start_time",
    "duration(s)": "duration",
    "power_consumption(kwh)": "energy",
    "co2_emissions(kg)": "emissions",
    "cpu_name": "cpu_name",
    "gpu_name": "gpu_name",
    "os": "os",
    "region/country": "where",
    "cpu_consumption(kwh)": "cpu",
    "gpu_consumption(kwh)": "gpu",
    "ram_consumption(kwh)": "ram",
}
REQUIRED = ("id", "start_time", "duration", "energy")
EPOCH = re.compile(r"epoch:\s*(\d+)", re.IGNORECASE)
NO_GPU = re.compile(r"\b0 device\(s\)")


def _canonical(name: str) -> str:
    key = name.strip().lower()
    if key.startswith("experiment_description"):
        return "description"
    return COLUMNS.get(key, key)


def looks_like(header: list[str]) -> bool:
    names = {_canonical(h) for h in header}
    return {"energy", "start_time", "duration"} <= names


def parse(data: str) -> Parsed:
    parsed = Parsed(format=ImportFormat.ECO2AI)
    reader = csv.reader(io.StringIO(data))
    try:
        header = [_canonical(h) for h in next(reader)]
    except StopIteration:
        parsed.skipped.append(Skipped(1, "the file is empty"))
        return parsed
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        parsed.skipped.append(
            Skipped(1, f"not an Eco2AI CSV: missing column(s) {', '.join(missing)}")
        )
        return parsed
    locations: dict[str, Location] = {}
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            parsed.skipped.append(
                Skipped(line, f"has {len(cells)} cells; the header has {len(header)}")
            )
            continue
        raw = dict(zip(header, cells, strict=True))
        try:
            row, info = _row(line, raw, locations)
        except ValueError as exc:
            parsed.skipped.append(Skipped(line, str(exc)))
            continue
        parsed.runs.setdefault(info.run_key, info)
        parsed.rows.append(row)
    return parsed


def _num(raw: dict[str, str], name: str, label: str) -> float | None:
    try:
        value = number(raw.get(name))
    except ValueError:
        raise ValueError(f"{label} {raw.get(name)!r} is not a number") from None
    if value is not None and value < 0:
        raise ValueError(f"{label} is negative ({value:g})")
    return value


def _row(line: int, raw: dict[str, str], locations: dict[str, Location]) -> tuple[Row, RunInfo]:
    tracker = text(raw.get("id"))
    if not tracker:
        raise ValueError("id is empty")
    errors: dict[str, str] = {}
    start = parse_time(text(raw.get("start_time")), "start_time", errors)
    if start is None:
        raise ValueError(f"start_time {errors['start_time']}")
    duration = _num(raw, "duration", "duration(s)")
    energy = _num(raw, "energy", "power_consumption(kWh)")
    if duration is None or energy is None:
        raise ValueError("duration(s) and power_consumption(kWh) are required")
    emissions = _num(raw, "emissions", "CO2_emissions(kg)")
    gpu_name = text(raw.get("gpu_name"))
    has_gpu = bool(gpu_name) and not NO_GPU.search(gpu_name)
    split = {c: _num(raw, c, f"{c.upper()}_consumption(kWh)") for c in ("cpu", "gpu", "ram")}
    if any(v is not None for v in split.values()):
        energies = {c: v or 0.0 for c, v in split.items()}
    else:
        # One total and no split: kept whole, on the GPU when the tracker saw one.
        energies = {"gpu" if has_gpu else "cpu": energy}
    epoch_match = EPOCH.search(text(raw.get("epoch"), 1000))
    epoch = int(epoch_match.group(1)) if epoch_match else None
    where = text(raw.get("where"))
    if where not in locations:
        locations[where] = _location(where)
    project_name = text(raw.get("project_name"))
    description = text(raw.get("description"))
    run_key = f"eco2ai:{tracker}"[:200]
    info = RunInfo(
        run_key=run_key,
        experiment="eco2ai" if project_name in {"", "Default project name"} else project_name,
        name="" if description in {"", "no experiment description"} else description,
        location=locations[where],
        hardware={
            k: v
            for k, v in (("cpu_model", text(raw.get("cpu_name"))), ("gpu_model", gpu_name))
            if v
        },
        software={"os": text(raw.get("os"))} if text(raw.get("os")) else {},
        params={"eco2ai_id": tracker, "eco2ai_location": where[:200]},
    )
    if locations[where].note:
        info.params["location_note"] = locations[where].note
    row = Row(
        line=line,
        run_key=run_key,
        uuid=derived_uuid(
            "eco2ai", tracker, epoch if epoch is not None else "", text(raw.get("start_time"))
        ),
        start=start,
        end=start + timedelta(seconds=duration),
        energies=energies,
        gpu_count=1 if has_gpu else 0,
        epoch=epoch,
        client_emissions_kg=emissions,
        client_energy_kwh=energy,
    )
    return row, info


def _location(where: str) -> Location:
    """Eco2AI writes ``country/region`` (``CH/Ticino``); older files ``region/country``."""
    parts: list[Any] = [p.strip() for p in where.split("/") if p.strip()]
    for part in parts:
        if len(part) in (2, 3) and part.isalpha():
            found = usable_location(part)
            if found.country:
                return found
    return Location(note=f"location {where!r} is not an ISO country code" if where else "")
