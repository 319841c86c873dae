"""The one rounding rule of every report format.

PDF, CSV summaries, XLSX and JSON all show figures through :func:`rounded` and
:func:`fmt`, so a total printed in the PDF equals the total in the workbook, the JSON and
the API (rounded the same way) to the last digit shown. Half-up on the decimal
representation of the float, not banker's rounding, because that is what people expect.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# Decimal places per unit shown in reports.
PLACES = {
    "mwh": 3,
    "kwh": 3,
    "t": 3,
    "kg": 3,
    "pct": 1,
    "g_per_kwh": 1,
    "pue": 3,
    "hours": 1,
}


def rounded(value: float | None, places: int) -> float | None:
    """``value`` rounded half-up to ``places`` decimals (None stays None)."""
    if value is None:
        return None
    quantum = Decimal(1).scaleb(-places)
    result = float(Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_UP))
    return 0.0 if result == 0 else result  # no "-0.000"


def fmt(value: float | None, places: int, missing: str = "n/a") -> str:
    """``value`` rounded with :func:`rounded` and written with thousands separators."""
    r = rounded(value, places)
    if r is None:
        return missing
    return f"{r:,.{places}f}"


def unit(value: float | None, kind: str) -> float | None:
    """Round a figure for its unit kind (``"mwh"``, ``"t"``, ``"pct"``...)."""
    return rounded(value, PLACES[kind])


def fmt_unit(value: float | None, kind: str, missing: str = "n/a") -> str:
    """Format a figure for its unit kind."""
    return fmt(value, PLACES[kind], missing)
