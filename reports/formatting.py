"""How a report's figures are shown: the one formatting module of every report renderer.

Owns the display of figures read from :func:`reports.build.build_report_data`'s dict:
units (kWh shown as MWh, kg as t CO2e), text (``1,234.567``, ``12.3 %``, ``+4.0 %``,
counts with thousands separators), the XLSX number format of each unit kind, shares, and
the wording both the PDF and the workbook print (:func:`basis_sentence`). The PDF
(``reports.pdf``), the workbook (``reports.renderers``), the report's methodology text
and the carbon statements (``reports.statements``) format through it; every rounding goes
through ``reports.rounding``, the one rounding rule. It also owns how text is written into
each file format (:func:`csv_cell`, :func:`xlsx_cell`, :func:`pdf_text`,
:func:`markdown_text`, :func:`latex_text`), so that a name people typed is shown as text and
never runs as a formula, markup or command. JSON needs nothing: ``json.dumps`` quotes
every string. Pure: no Django.
"""

from __future__ import annotations

import re
from typing import Any

from openpyxl.cell.cell import Cell

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


# --- text in each file format -----------------------------------------------------------

# First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV
# Injection": https://owasp.org/www-community/attacks/CSV_Injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A CSV cell: a float at full precision (``repr``); text that a spreadsheet would read
    as a formula with a leading apostrophe, OWASP's advice; anything else as is. Numbers,
    negative ones included, are never prefixed."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def xlsx_cell(cell: Cell) -> None:
    """Keep a text cell text: openpyxl would store a string starting with ``=`` as a
    formula and ``#REF!`` as an error. Typed as a string, the cell holds exactly the text;
    quote-prefixed, it stays text when someone edits it in Excel."""
    if isinstance(cell.value, str):
        cell.data_type = "s"
        cell.quotePrefix = True


def pdf_text(text: Any) -> str:
    """Text for a reportlab ``Paragraph``, which parses its text as markup: ``&``, ``<``
    and ``>`` escaped, so a name prints as typed."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _one_line(text: str) -> str:
    return re.sub(r"[\r\n]+", " ", text)


# Backslash-escaped, every one of them literal in CommonMark (which lets any ASCII
# punctuation be escaped: https://spec.commonmark.org/0.31.2/#backslash-escapes): enough
# that no emphasis, code, link, image, raw HTML, entity or table cell can start.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|&~$])")


def markdown_text(text: str) -> str:
    """Text for Markdown, on one line: its special characters backslash-escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _one_line(text))


_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    # Not commands, but printed as other glyphs in LaTeX's default (OT1) font encoding.
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}


def latex_text(text: str) -> str:
    """Text for LaTeX, on one line (a blank line would end a caption with an error), with
    every special character escaped; ``CO2e`` gets its subscript."""
    escaped = "".join(_LATEX.get(ch, ch) for ch in _one_line(text))
    return escaped.replace("CO2e", r"CO\textsubscript{2}e")


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
