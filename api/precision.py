"""The precision of every quantity the API answers: one table, applied to every answer.

Floats summed in the database carry binary noise (``0.07100000000000001``); an answer
that shows it cannot be read back against a page or a report. Every float in an API
answer is therefore rounded to a fixed number of decimal places chosen per unit
(:data:`UNITS`), once, when the answer is rendered (:class:`QuantityJSONRenderer`).

A quantity's unit is read from its key (:func:`unit_of`): the hub's keys end with their
unit (``energy_kwh``, ``emissions_kg``, ``cpu_power_w``, ``duration_s``, ...). Values the
hub did not compute -- a run's ``params``, ``metrics``, ``software`` and ``tags`` as the
client sent them -- are returned as sent (:data:`AS_SENT`).

Each figure is rounded from its unrounded value, so a total and the sum of its rounded
parts, or a product recomputed from rounded factors, can differ by a unit in the last
place shown.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder


@dataclass(frozen=True)
class Unit:
    """A unit, the decimal places the API gives it, and why."""

    symbol: str
    decimals: int
    step: str
    why: str


# The table (docs/api.md shows it; keep both in step).
UNITS: dict[str, Unit] = {
    "kWh": Unit(
        "kWh",
        6,
        "0.000001 kWh = 1 mWh = 3.6 J",
        "below any total worth reporting (a 100 W GPU draws it in 36 ms); the pages show "
        "nothing below 0.000001 kWh either",
    ),
    "kg": Unit(
        "kg CO2e",
        6,
        "0.000001 kg = 1 mg",
        "what 1 mWh emits at <= 1,000 g/kWh, so emissions keep the resolution of energy",
    ),
    "g/kWh": Unit(
        "g CO2e/kWh",
        2,
        "0.01 g/kWh",
        "the finest precision of the hub's factor datasets (residual mixes give 2 decimals)",
    ),
    "W": Unit("W", 1, "0.1 W", "finer than any power meter the clients read is accurate"),
    "share": Unit("fraction (0-1)", 4, "0.0001 = 0.01 %", "a share shown as a percentage"),
    "%": Unit("%", 2, "0.01 %", "the same resolution as a share"),
    "s": Unit("s", 3, "1 ms", "the resolution of the timestamps the hub stores"),
    "h": Unit("h", 4, "0.0001 h = 0.36 s", "GPU-hours to the same order as durations"),
    "PUE": Unit("PUE", 3, "0.001", "PUEs are published with 2 decimals, at most 3"),
    "GB": Unit("GB", 3, "1 MB", "memory sizes as the clients report them"),
}

# Key endings, checked in order (``intensity_g_per_kwh`` ends with ``_kwh`` too).
SUFFIXES: tuple[tuple[str, str], ...] = (
    ("g_per_kwh", "g/kWh"),
    ("_kwh", "kWh"),
    ("_kg", "kg"),
    ("_w", "W"),
    ("_pct", "%"),
    ("_percent", "%"),
    ("_share", "share"),
    ("_hours", "h"),
    ("_s", "s"),
    ("_pue", "PUE"),
    ("_gb", "GB"),
)
# Whole keys that carry no suffix.
EXACT: dict[str, str] = {
    "pue": "PUE",
    "kwh": "kWh",
    # A run series' time axis: bucket start and end, seconds since the epoch.
    "t": "s",
    "t_end": "s",
    "share": "share",
}
# Running sums keep the unit of what they add up (``energy_kwh_cum``).
CUMULATIVE = "_cum"

# What a client sent is returned as sent; the hub did not compute it.
AS_SENT = frozenset({"params", "metrics", "software", "tags"})


@functools.lru_cache(maxsize=4096)
def unit_of(key: str) -> Unit | None:
    """The unit of the quantity named ``key``, or None when the key names no quantity
    (remembered per key: an answer repeats the same few keys thousands of times)."""
    name = key.lower()
    if name.endswith(CUMULATIVE):
        name = name[: -len(CUMULATIVE)]
    if name in EXACT:
        return UNITS[EXACT[name]]
    for suffix, unit in SUFFIXES:
        if name.endswith(suffix):
            return UNITS[unit]
    return None


def rounded(value: float, unit: Unit | str) -> float:
    """``value`` to the decimal places of ``unit`` (a :class:`Unit` or a key of :data:`UNITS`).

    ``round`` gives the float nearest to the decimal, whose shortest representation
    (what JSON shows) has no more digits than the decimals kept."""
    decimals = (UNITS[unit] if isinstance(unit, str) else unit).decimals
    if not math.isfinite(value):
        return value
    result = round(value, decimals)
    return 0.0 if result == 0 else result  # no "-0.0"


class Rounded(list):  # type: ignore[type-arg]
    """A list whose quantities its builder has already rounded with :func:`rounded`
    (``api.queries.usage_series(..., rounded=True)``): :func:`precise` returns it as it is,
    so a long series is rounded once, as it is built, instead of walked a second time."""


# The hub's own answers nest a few levels; deeper than this is what a client stored (a run's
# hardware as it was sent), returned as stored rather than walked.
MAX_WALK_DEPTH = 32


def precise(data: Any, key: str = "", depth: int = 0) -> Any:
    """A copy of an answer with every float rounded to the precision of its key's unit.

    Dicts and lists are walked; a float in a list takes the unit of the list's key.
    Integers, strings, times and the client's own values (:data:`AS_SENT`) are left alone,
    as is anything nested deeper than :data:`MAX_WALK_DEPTH`. A float whose key names no
    unit is left alone too; the tests walk every answer to make sure there is none.
    """
    if isinstance(data, bool):
        return data
    if isinstance(data, float):
        unit = unit_of(key)
        return rounded(data, unit) if unit is not None else data
    if depth > MAX_WALK_DEPTH or isinstance(data, Rounded):
        return data
    if isinstance(data, dict):
        return {
            k: (v if str(k) in AS_SENT else precise(v, str(k), depth + 1)) for k, v in data.items()
        }
    if isinstance(data, list | tuple):
        return [precise(v, key, depth + 1) for v in data]
    return data


def _fallback(obj: Any) -> Any:
    """What DRF's encoder makes of the types msgspec does not know (lazy text, sets,
    querysets, timedeltas ...); datetimes, dates, UUIDs and decimals msgspec writes as DRF
    does (ISO 8601 with ``Z`` for UTC; decimals as numbers)."""
    if isinstance(obj, str):  # str subclasses: DRF's ErrorDetail, SafeString
        return str(obj)
    return JSONEncoder().default(obj)


_ENCODER = msgspec.json.Encoder(enc_hook=_fallback, decimal_format="number")


class QuantityJSONRenderer(JSONRenderer):
    """DRF's JSON renderer, with every quantity rounded by :func:`precise` first, and the
    JSON written by msgspec (the same text as DRF's compact UTF-8 JSON, several times
    faster on a long series; ``; indent=N`` in the Accept header still pretty-prints)."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        # As DRF: U+2028 and U+2029 escaped, so the JSON is also valid JavaScript.
        body = (
            _ENCODER.encode(precise(data))
            .replace(b"\xe2\x80\xa8", b"\\u2028")
            .replace(b"\xe2\x80\xa9", b"\\u2029")
        )
        indent = self.get_indent(accepted_media_type or "", renderer_context or {})
        return msgspec.json.format(body, indent=indent) if indent else body
