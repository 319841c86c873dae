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

What real files (Eco2AI 0.3.12) look like beyond the column list: every tracker rewrites
the whole file through pandas, so the ``epoch`` of an earlier row turns from ``N/A`` into
an empty cell and its floats may be re-printed; ``CPU_name`` is ``<model>/<n> device(s),
TDP:<W>`` (older releases add `` method:...``), ``GPU_name`` is ``<model> <n> device(s)``
(`` 0 device(s)`` with no model when there is no GPU); ``region/country`` is ``FR`` or
``US/California``, in parentheses (``(DE)``) when the user gave ``emission_level``; an
unnamed tracker is ``Default project name`` / ``no experiment description``.

Eco2AI multiplies each measured consumption by its ``pue`` setting (default 1) before it
adds it to ``power_consumption(kWh)`` (0.3.12, ``Tracker._func_for_sched``), and the file
does not record the setting. The hub takes the energy as IT energy under Eco2AI's
default and says so on the run (``params["source_pue"]``); a tracker configured with
another ``pue`` would count it on top of the hub's PUE.
"""

from __future__ import annotations

import re
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
from api.models import ImportFormat
from api.schema import parse_time

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
# "Intel(R) Xeon(R) Processor/1 device(s), TDP:61.0" (older: "..., TDP:280 method:tdp")
CPU_NAME = re.compile(r"^(.*?)/\s*(\d+) device\(s\)(?:,\s*TDP:\s*([\d.]+))?", re.IGNORECASE)
# "NVIDIA A100-SXM4-80GB 1 device(s)" (older: "... nvml"); " 0 device(s)" without a GPU
GPU_NAME = re.compile(r"^(.*?)\s*\b(\d+) device\(s\)", re.IGNORECASE)
DEFAULT_PROJECTS = {"", "default project name"}  # Eco2AI's names for an unnamed tracker
DEFAULT_DESCRIPTIONS = {"", "no experiment description", "default experiment description"}
ECO2AI_SOURCE = SourcePue(
    "Eco2AI", 1.0, "assumed: Eco2AI's default pue; its CSV does not record the setting"
)


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
    rows = csv_rows(data, parsed)
    cells = csv_header(rows, parsed)
    if cells is None:
        return parsed
    header = [_canonical(h) for h in cells]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        parsed.skipped.append(
            Skipped(1, f"not an Eco2AI CSV: missing column(s) {', '.join(missing)}")
        )
        return parsed
    locations: dict[str, Location] = {}
    for line, cells in rows:
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
        except (ValueError, OverflowError) as exc:
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
    tracker = text(raw.get("id"), 1000)
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
    end = shifted(start, duration, "start_time + duration(s)")
    emissions = _num(raw, "emissions", "CO2_emissions(kg)")
    hardware = _hardware(text(raw.get("cpu_name")), text(raw.get("gpu_name")))
    has_gpu = "gpu_model" in hardware
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
    project_name = text(raw.get("project_name"), 1000)
    description = text(raw.get("description"), 1000)
    key = run_key("eco2ai", tracker)
    info = RunInfo(
        run_key=key,
        experiment="eco2ai"
        if project_name.lower() in DEFAULT_PROJECTS
        else fit(project_name, EXPERIMENT_NAME_LEN),
        name="" if description.lower() in DEFAULT_DESCRIPTIONS else fit(description, RUN_NAME_LEN),
        location=locations[where],
        hardware=hardware,
        software={"os": text(raw.get("os"))} if text(raw.get("os")) else {},
        params={
            "eco2ai_id": tracker,
            "eco2ai_location": where[:200],
            "source_pue": ECO2AI_SOURCE.record(),
        },
    )
    if locations[where].note:
        info.params["location_note"] = locations[where].note
    row = Row(
        line=line,
        run_key=key,
        uuid=derived_uuid(
            "eco2ai", tracker, epoch if epoch is not None else "", text(raw.get("start_time"))
        ),
        start=start,
        end=end,
        energies=energies,
        gpu_count=int(hardware.get("gpu_count", 1)) if has_gpu else 0,
        epoch=epoch,
        client_emissions_kg=emissions,
        client_energy_kwh=energy,
    )
    return row, info


def _hardware(cpu_name: str, gpu_name: str) -> dict[str, Any]:
    """Model and count of the CPU and GPU cells; no GPU entry for ``0 device(s)``."""
    hardware: dict[str, Any] = {}
    cpu = CPU_NAME.match(cpu_name)
    if cpu:
        if cpu.group(1).strip():
            hardware["cpu_model"] = cpu.group(1).strip()[:200]
        hardware["cpu_count"] = int(cpu.group(2))
        if cpu.group(3):
            hardware["cpu_tdp_w"] = float(cpu.group(3))
    elif cpu_name:
        hardware["cpu_model"] = cpu_name
    gpu = GPU_NAME.match(gpu_name)
    if gpu:
        count = int(gpu.group(2))
        if count > 0:
            hardware["gpu_model"] = gpu.group(1).strip()[:200] or gpu_name
            hardware["gpu_count"] = count
    elif gpu_name:
        hardware["gpu_model"] = gpu_name
    return hardware


def _location(where: str) -> Location:
    """Eco2AI writes ``country/region`` (``US/California``), ``(country)`` when the user
    set ``emission_level``; older files ``region/country``. The region is kept when the
    hub knows it for that country (``usable_location`` drops it with a note otherwise)."""
    parts: list[Any] = [p.strip() for p in where.strip().strip("()").split("/") if p.strip()]
    for i, part in enumerate(parts):
        if len(part) in (2, 3) and part.isalpha():
            region = "/".join(parts[:i] + parts[i + 1 :])
            found = usable_location(part, region)
            if found.country:
                return found
    return Location(note=f"location {where!r} is not an ISO country code" if where else "")
