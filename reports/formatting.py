"""How a report's figures are shown: the one formatting module of every report renderer.

Owns the display of figures read from :func:`reports.build.build_report_data`'s dict:
units (kWh shown as MWh, kg as t CO2e), text (``1,234.567``, ``12.3 %``, ``+4.0 %``,
counts with thousands separators), the XLSX number format of each unit kind, shares, and
the wording both the PDF and the workbook print (:func:`basis_sentence`). The PDF
(``reports.pdf``), the workbook (``reports.renderers``), the report's methodology text
and the carbon statements (``reports.statements``) format through it; every rounding goes
through ``reports.rounding``, the one rounding rule. Pure: no Django.
"""

from __future__ import annotations

from typing import Any

from reports.rounding import PLACES, fmt, rounded

# --- arithmetic on figures ----------------------------------------------------------------


def share_pct(part: float, whole: float) -> float | None:
    """``part`` as a percentage of ``whole``; None when the whole is zero."""
    return part / whole * 100.0 if whole else None


def to_mwh(kwh: float | None) -> float | None:
    """kWh in MWh, unrounded (None stays None)."""
    return None if kwh is None else kwh / 1000.0


def to_t(kg: float | None) -> float | None:
    """kg in tonnes, unrounded (None stays None)."""
    return None if kg is None else kg / 1000.0


# --- text ---------------------------------------------------------------------------------


def number(value: float | None, kind: str) -> str:
    """A figure of a unit kind (``"pue"``, ``"kg"``, ``"hours"``...) rounded and written
    with thousands separators; ``n/a`` for None."""
    return fmt(value, PLACES[kind])


def mwh(kwh: float | None) -> str:
    """kWh shown as MWh with the report's rounding."""
    return number(to_mwh(kwh), "mwh")


def tonnes(kg: float | None) -> str:
    """kg shown as t CO2e with the report's rounding."""
    return number(to_t(kg), "t")


def pct(value: float | None) -> str:
    """A percentage: ``12.3 %``, or ``n/a``."""
    return number(value, "pct") + (" %" if value is not None else "")


def change(value: float | None) -> str:
    """A change in percent with its sign: ``+4.0 %``, ``-2.5 %``, ``0.0 %`` or ``n/a``."""
    if value is None:
        return "n/a"
    r = rounded(value, PLACES["pct"])
    return ("+" if r is not None and r > 0 else "") + number(value, "pct") + " %"


def count(n: int) -> str:
    """A count with thousands separators: ``12,345``."""
    return f"{n:,}"


def plain(value: float) -> str:
    """A figure quoted as given, shortest form (``1.56``, ``471.08``, ``1.1``)."""
    return f"{value:g}"


def scope_short(scope: str) -> str:
    """The scope of a market-based line in a narrow column: ``2`` or ``3 cat. 1``."""
    return "2" if scope == "scope2" else "3 cat. 1"


# --- XLSX cells ---------------------------------------------------------------------------


def excel_format(kind: str) -> str:
    """The number format of a unit kind's cells: as many decimals as the rounding keeps."""
    return "#,##0." + "0" * PLACES[kind] if PLACES[kind] else "#,##0"


def is_number(value: Any) -> bool:
    """An int or a float (not a bool, not None): what a cell rounds and formats."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def excel_value(value: Any, kind: str | None) -> Any:
    """A cell's value: a number of a unit kind rounded like the text; anything else as is."""
    if kind and is_number(value):
        return rounded(value, PLACES[kind])
    return value


# --- wording ------------------------------------------------------------------------------


def basis_sentence(basis: dict[str, Any]) -> str:
    """ "Every figure is on this basis", or, while a basis change is still being applied,
    the warning that the report mixes bases and must not be used."""
    if basis.get("mixed"):
        return (
            "WARNING: some figures of this period use factors of another basis ("
            + ", ".join(basis["factor_bases"])
            + "), because a change of basis was still being applied; regenerate this report "
            "once it is done, and do not use this one."
        )
    return "Every figure of this report is on this basis."
