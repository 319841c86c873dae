"""Numbers with their units, as people read them: kWh or MWh, g, kg or t CO2e.

Used by the templates (through ``dashboards.templatetags.hub``), the live JSON of the run
page and the chart axes, so a figure reads the same wherever it shows.
"""

from __future__ import annotations

import math

# Shown where a number is missing, and the sign of a decrease.
MISSING = "\N{EN DASH}"
MINUS = "\N{MINUS SIGN}"


# From this size on a number is written with an exponent: its digits would not be read.
HUGE = 1e15


def number(value: float | None) -> str:
    """Three significant figures for small values, thousands separators for large ones,
    an exponent for huge ones (``1.80e+308``; a stored integer beyond a float too)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return MISSING if value is None else str(value)
    if isinstance(value, int) and abs(value) >= HUGE:
        return _exponent(value)
    if not math.isfinite(value):
        return MISSING
    size = abs(value)
    if size >= HUGE:
        return f"{value:.2e}".replace("-", MINUS)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:,.1f}"
    if size >= 1:
        return f"{value:,.2f}"
    if size == 0:
        return "0"
    if size < 1e-6:
        return "< 0.000001" if value > 0 else "> -0.000001"
    # Three significant figures in plain decimals: "0.0000843" reads better than "8.43e-05".
    decimals = 2 - math.floor(math.log10(size))
    return f"{value:.{decimals}f}".rstrip("0").rstrip(".")


def _exponent(value: int) -> str:
    """``1.00e+400`` for an integer of any size (no float holds 10**400)."""
    digits = str(abs(value))  # at most 4,300 digits: JSON (and Python) read no longer ones
    rounded = f"{round(int(digits[:4]), -1) // 10:03d}"  # 3 significant figures
    exponent = len(digits) - 1 + (len(rounded) - 3)
    sign = MINUS if value < 0 else ""
    return f"{sign}{rounded[0]}.{rounded[1:3]}e+{exponent}"


def energy_scale(kwh: float) -> tuple[float, str]:
    """(divisor, unit) for showing an amount of energy given in kWh."""
    return (1000.0, "MWh") if abs(kwh) >= 1000 else (1.0, "kWh")


def mass_scale(kg: float) -> tuple[float, str]:
    """(divisor, unit) for showing an amount of CO2e given in kg."""
    size = abs(kg)
    if size >= 1000:
        return 1000.0, "t CO2e"
    if 0 < size < 1:
        return 0.001, "g CO2e"
    return 1.0, "kg CO2e"


def energy(kwh: float | None) -> str:
    if kwh is None:
        return MISSING
    divisor, unit = energy_scale(kwh)
    return f"{number(kwh / divisor)} {unit}"


def mass(kg: float | None) -> str:
    if kg is None:
        return MISSING
    divisor, unit = mass_scale(kg)
    return f"{number(kg / divisor)} {unit}"


def power(w: float | None) -> str:
    if w is None:
        return MISSING
    return f"{number(w / 1000)} kW" if abs(w) >= 1000 else f"{number(w)} W"


def duration(seconds: float | None) -> str:
    """``3 h 25 min``, ``12 min 5 s`` or ``40 s``."""
    if seconds is None:
        return MISSING
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def percent(share: float | None) -> str:
    """A share in [0, 1] as a percentage."""
    if share is None:
        return MISSING
    return f"{number(share * 100)} %"


def change(current: float, previous: float) -> dict[str, str]:
    """How ``current`` compares with ``previous``: text and a direction for styling.

    For energy and emissions, down is good, so the direction is named by sign only and
    the stylesheet decides the colour.
    """
    if previous == 0:
        if current == 0:
            return {"text": "no change", "direction": "flat"}
        return {"text": "none in the previous period", "direction": "up"}
    ratio = (current - previous) / previous
    if abs(ratio) < 0.0005:
        return {"text": "no change", "direction": "flat"}
    sign = "+" if ratio > 0 else MINUS
    return {
        "text": f"{sign}{number(abs(ratio) * 100)} % vs previous period",
        "direction": "up" if ratio > 0 else "down",
    }
