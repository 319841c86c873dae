"""CarbonTracker output logs (``*_carbontracker_output.log``).

Each line the log file handler writes starts with ``{asctime} - {threadName} - {levelname}
- CarbonTracker: ...``; a consumption report is a multi-line message::

    2024-03-01 10:00:40,125 - MainThread - INFO - CarbonTracker:
    Actual consumption for 2 epoch(s):
            Time:   0:00:30
            Energy: 0.000812 kWh
            CO2eq:  0.121800 g

CarbonTracker 2.x (checked with 2.4.7) writes a shorter prefix to this file,
``{asctime} - CarbonTracker: ...`` with whole seconds and no thread or level, prints
intensities in ``gCO2eq/kWh``, and no longer puts the detected location in this file
(only in ``*_carbontracker.log``); both prefixes are read.

"Actual consumption" is what was measured so far (cumulative over the tracker's epochs),
printed when the tracker stops; "Predicted consumption" is a forecast and is not stored
as a measurement. Successive actual reports of one log become the deltas between them.
The interval of a report ends at its log time and lasts ``Time``. Log times have no
zone: they are read as UTC.

The two other files CarbonTracker writes beside it, ``*_carbontracker.log`` (per-epoch
debug log) and ``*_carbontracker_err.log``, have no consumption report: they are refused
with a message naming the right file.

CarbonTracker multiplies the energy it measures by a fixed data-centre PUE before
printing it (``total_energy_per_epoch``), and the output log does not say which: only
the debug log (``*_carbontracker.log``) states "Only predicted and actual consumptions are
multiplied by a PUE coefficient of ...". Checked in the released packages: 1.0.x applies
none, 1.1.0-1.1.2 apply 1.58, 1.1.3-1.1.4 1.67, 1.1.5-1.1.6 1.59, 1.1.7-1.2.5 1.55
(``PUE_2022``) and 2.0.0-2.4.7 1.58 (``PUE_2023``, Uptime Institute 2023). The hub
divides by the current releases' 1.58 (:data:`CARBONTRACKER_PUE`) to store IT energy,
records that assumption on the run (``params["source_pue"]``), and applies its own PUE
like for any other run.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from api.importers.common import (
    NUL_REASON,
    RUN_NAME_LEN,
    Parsed,
    Row,
    RunInfo,
    Skipped,
    SourcePue,
    derived_uuid,
    fit,
    plausible_time,
    shifted,
    usable_location,
)
from api.models import ImportFormat

# What CarbonTracker 2.x multiplies by (constants.PUE_2023; 1.1.0-1.1.2 used 1.58 too).
CARBONTRACKER_PUE = 1.58
CARBONTRACKER_SOURCE = SourcePue(
    "CarbonTracker",
    CARBONTRACKER_PUE,
    "assumed: the output log does not say; CarbonTracker 2.x applies 1.58, 1.1.7-1.2.5 "
    "applied 1.55, 1.1.5-1.1.6 1.59, 1.1.3-1.1.4 1.67, 1.0.x none",
)

LOG_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})(?:[,.](\d{1,6}))?\s+-\s+")
ACTUAL = re.compile(r"Actual consumption(?: for (\d+) epoch\(s\))?:", re.IGNORECASE)
PREDICTED = re.compile(r"Predicted consumption(?: for (\d+) epoch\(s\))?:", re.IGNORECASE)
FIELD = re.compile(r"^\s*(Time|Energy|CO2eq):\s*(.+?)\s*$", re.IGNORECASE)
# At most 9 digits of days or hours: more is no duration (nor an int Python reads quickly).
DURATION = re.compile(r"^(?:(\d{1,9}) days?, )?(\d{1,9}):(\d{2}):(\d{2}(?:\.\d+)?)$")
MAX_EPOCHS_DIGITS = 9
INTENSITY = re.compile(
    r"Average carbon intensity during training was ([\d.]+|nan)\s*gCO2(?:eq)?/kWh"
    r"(?: at detected location: (.*?))?\.?\s*$",
    re.IGNORECASE,
)
OUTPUT_MARK = "CarbonTracker:"  # the prefix of every line of the output log, 1.x and 2.x
COMPONENTS = re.compile(r"The following components were found:(.*)$")
DEVICE = re.compile(r"\s*(\w+) with device\(s\) (.*?)\.(?=\s|$)")


def looks_like(head: str) -> bool:
    return "CarbonTracker" in head or "carbontracker" in head


def _when(line: str) -> datetime | None:
    """The log time that begins ``line``, None when it has none; ValueError when it is no
    date, or one the hub does not accept."""
    m = LOG_LINE.match(line)
    if not m:
        return None
    try:
        moment = datetime.fromisoformat(m.group(1).replace(" ", "T"))
    except ValueError:
        raise ValueError(f"log time {m.group(1)!r} is not a date") from None
    micro = int((m.group(2) or "0").ljust(6, "0"))
    return plausible_time(moment.replace(microsecond=micro, tzinfo=UTC), "log time")


def _seconds(raw: str) -> float | None:
    m = DURATION.match(raw.strip())
    if not m:
        return None
    days, h, mi, s = m.groups()
    return int(days or 0) * 86400 + int(h) * 3600 + int(mi) * 60 + float(s)


def _value(raw: str, unit: str) -> float | None:
    m = re.match(rf"^([-+\d.eE]+|nan)\s*{unit}$", raw.strip(), re.IGNORECASE)
    if not m:
        return None
    try:
        value = float(m.group(1))
    except ValueError:
        return None  # "1.2.3", "e-"
    return value if math.isfinite(value) else None


def _run_key(
    first_stamp: str, reports: list[tuple[int, datetime, int | None, float, float, float | None]]
) -> str:
    """The run a log lands in, the same for every copy of the log.

    The first timestamped line is the tracker's start. CarbonTracker 1.x stamps it to the
    millisecond, which names the run alone (and keeps the keys of logs imported before).
    2.x stamps whole seconds and starts with the same component line on one machine, so
    two trackers started in the same second (a sweep) would share it: their first actual
    report, which a later copy of the log still has, tells them apart.
    """
    parts: list[object] = ["carbontracker", first_stamp.strip()]
    m = LOG_LINE.match(first_stamp)
    if m and m.group(2) is None and reports:
        _, end, epochs, seconds, energy, grams = reports[0]
        parts += [end.isoformat(), epochs, seconds, energy, grams]
    return f"carbontracker:{derived_uuid(*parts)}"


def parse(data: str, filename: str = "") -> Parsed:
    parsed = Parsed(format=ImportFormat.CARBONTRACKER)
    lines = data.splitlines()
    for number, line in enumerate(lines, 1):
        if "\x00" in line:
            parsed.skipped.append(Skipped(number, NUL_REASON))
            lines[number - 1] = ""  # read as a blank line: nothing of it is stored
    first_stamp = next((ln for ln in lines if LOG_LINE.match(ln)), None)
    if first_stamp is None:
        parsed.skipped.append(
            Skipped(
                1,
                "no timestamped CarbonTracker log lines: upload the *_carbontracker_output.log file "
                "that CarbonTracker writes to its log_dir, not the console output",
            )
        )
        return parsed
    if not any(OUTPUT_MARK in ln for ln in lines):
        parsed.skipped.append(
            Skipped(
                1,
                "this is not CarbonTracker's output log (no 'CarbonTracker:' line): of the files "
                "CarbonTracker writes to its log_dir, upload *_carbontracker_output.log, not "
                "*_carbontracker.log or *_carbontracker_err.log",
            )
        )
        return parsed
    info = RunInfo(run_key="", experiment="carbontracker", name=fit(filename, RUN_NAME_LEN))
    reports: list[tuple[int, datetime, int | None, float, float, float | None]] = []
    now: datetime | None = None
    bad_time = ""  # why the last log time cannot be used, when it cannot
    intensity: float | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        try:
            stamp = _when(line)
        except ValueError as exc:
            now, bad_time = None, str(exc)
        else:
            if stamp is not None:
                now, bad_time = stamp, ""
        comp = COMPONENTS.search(line)
        if comp:
            for name, devices in DEVICE.findall(comp.group(1)):
                info.hardware[f"{name.lower()}_model"] = devices.strip()[:200]
                info.hardware[f"{name.lower()}_count"] = len(devices.split(","))
        found = INTENSITY.search(line)
        if found:
            if found.group(1).lower() != "nan":
                intensity = float(found.group(1))
            where = (found.group(2) or "").strip().rstrip(".")
            country = where.rsplit(",", 1)[-1].strip() if where else ""
            if len(country) in (2, 3) and country.isalpha():
                info.location = usable_location(country)
            if where:
                info.params["carbontracker_location"] = where[:200]
        header = ACTUAL.search(line)
        if header is None or PREDICTED.search(line):
            i += 1
            continue
        block_line = i + 1
        fields: dict[str, str] = {}
        j = i + 1
        while j < len(lines) and len(fields) < 3 and not LOG_LINE.match(lines[j]):
            m = FIELD.match(lines[j])
            if m:
                fields[m.group(1).lower()] = m.group(2)
            j += 1
        i = j
        seconds = _seconds(fields.get("time", ""))
        energy = _value(fields.get("energy", ""), "kWh")
        grams = _value(fields.get("co2eq", ""), "g")
        epochs_text = header.group(1) or ""
        if now is None:
            parsed.skipped.append(
                Skipped(block_line, bad_time or "consumption report without a log time before it")
            )
        elif len(epochs_text) > MAX_EPOCHS_DIGITS:
            parsed.skipped.append(
                Skipped(block_line, f"the epoch count {epochs_text[:20]}... is not plausible")
            )
        elif seconds is None:
            parsed.skipped.append(
                Skipped(block_line, f"Time {fields.get('time')!r} is not H:MM:SS")
            )
        elif energy is None or energy < 0:
            parsed.skipped.append(
                Skipped(block_line, f"Energy {fields.get('energy')!r} is not a kWh figure")
            )
        else:
            epochs = int(epochs_text) if epochs_text else None
            reports.append((block_line, now, epochs, seconds, energy, grams))
    if not reports and not parsed.skipped:
        parsed.skipped.append(
            Skipped(1, "no 'Actual consumption' report in this log (the run may not have stopped)")
        )
    info.params["carbontracker_pue_assumed"] = CARBONTRACKER_PUE
    info.params["source_pue"] = CARBONTRACKER_SOURCE.record()
    run_key = _run_key(first_stamp, reports)
    info.run_key = run_key
    parsed.runs[run_key] = info
    previous: tuple[float, float, float | None] = (0.0, 0.0, None)
    for line_no, end, epochs, seconds, energy, grams in sorted(reports, key=lambda r: (r[3], r[4])):
        span = seconds - previous[0]
        delta_kwh = energy - previous[1]
        if span <= 0 and delta_kwh <= 0:
            continue  # the same report twice
        if delta_kwh < 0 or span < 0:
            parsed.skipped.append(
                Skipped(line_no, "cumulative consumption goes down from the previous report")
            )
            continue
        try:
            start = shifted(end, -span, "the log time - Time (when the epochs began)")
        except ValueError as exc:
            parsed.skipped.append(Skipped(line_no, str(exc)))
            continue
        delta_g = None if grams is None else max(grams - (previous[2] or 0.0), 0.0)
        client_kg = delta_g / 1000.0 if delta_g is not None else None
        it_kwh = CARBONTRACKER_SOURCE.it_energy(delta_kwh)
        row_args: dict[str, Any] = {
            "line": line_no,
            "run_key": run_key,
            "uuid": derived_uuid(run_key, previous[0], seconds, energy),
            "start": start,
            "end": end,
            # CarbonTracker prints one total; without a split the hub keeps it whole, on the
            # GPU when the log found one (deep-learning training is what it measures).
            "energies": {"gpu" if "gpu_model" in info.hardware else "cpu": it_kwh},
            "gpu_count": info.hardware.get("gpu_count", 0),
            "epoch": epochs,
            "client_emissions_kg": client_kg,
            "client_energy_kwh": delta_kwh,
        }
        if intensity is not None and client_kg is None:
            row_args["client_emissions_kg"] = delta_kwh * intensity / 1000.0
        parsed.rows.append(Row(**row_args))
        previous = (seconds, energy, grams)
    return parsed
