"""Machine formats of a report: CSV detail rows, an XLSX workbook and JSON.

Owns the layout of those formats: the CSV columns, the JSON document, and one function
per workbook sheet (:data:`SHEETS`, in tab order). Each takes the dict of
:func:`reports.build.build_report_data` and returns bytes. Shown figures go through
``reports.formatting`` (units, number formats, wording; rounding by ``reports.rounding``);
CSV and JSON detail keep full precision so that sums of rows equal the totals. Every CSV
cell goes through ``formatting.csv_cell`` and every workbook cell through
``formatting.xlsx_cell``, so that no name people typed becomes a formula; JSON is safe as
it is (every string quoted by ``json.dumps``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from api.models import USAGE_FIELDS
from reports.formatting import (
    basis_sentence,
    csv_cell,
    excel_format,
    excel_value,
    is_number,
    to_mwh,
    to_t,
    xlsx_cell,
)

CSV_COLUMNS = [
    "project_id",
    "project",
    "scope",
    "month",
    "zone",
    "cloud_provider",
    "cloud_region",
    "location_known",
    "pue",
    "dataset_version",
    "factor_g_per_kwh",
    "factor_year",
    "factor_is_fallback",
    "factor_basis",
    "factor_derived",
    *USAGE_FIELDS,
    # The range every row covers, so that a row read alone says whether it is to date.
    "period",
    "data_start",
    "data_end",
    "to_date",
]


def period_columns(data: dict[str, Any]) -> dict[str, Any]:
    """The period columns of a detail row: its title (``2026Q4, to date: data up to ...``),
    the range with data (``data_end`` excluded) and whether the period had not ended."""
    p = data["period"]
    return {
        "period": p["title"],
        "data_start": p["data_start"],
        "data_end": p["data_end"],
        "to_date": p["to_date"],
    }


def render_csv(data: dict[str, Any]) -> bytes:
    """One row per project, month, zone, provider, region, factor and PUE (full precision),
    each with the period it belongs to."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    period = period_columns(data)
    for row in data["detail"]:
        writer.writerow({k: csv_cell(v) for k, v in {**row, **period}.items()})
    return buf.getvalue().encode("utf-8")


def render_json(data: dict[str, Any], meta: dict[str, Any], checksum: str) -> bytes:
    """``{"meta": ..., "data_sha256": ..., "data": ...}``; only ``data`` is checksummed."""
    doc = {"meta": meta, "data_sha256": checksum, "data": data}
    return json.dumps(doc, indent=1, sort_keys=True, default=_default).encode("utf-8")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


# --- XLSX ---------------------------------------------------------------------------------

HEAD = Font(bold=True, color="FFFFFF")
HEAD_FILL = PatternFill("solid", fgColor="2E6B4F")
TITLE = Font(bold=True, size=14)


def _table(
    ws: Worksheet, top: int, headers: list[str], rows: list[list[Any]], kinds: list[str | None]
) -> int:
    """Write a header row and rows from ``top``; return the next free row."""
    for col, h in enumerate(headers, 1):
        cell = ws.cell(row=top, column=col, value=h)
        cell.font = HEAD
        cell.fill = HEAD_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for r, values in enumerate(rows, top + 1):
        _table_row(ws, r, values, kinds)
    return top + len(rows) + 2


def _table_row(ws: Worksheet, r: int, values: list[Any], kinds: list[str | None]) -> None:
    """Write one row, rounding each number by its column's unit kind."""
    for col, (value, kind) in enumerate(zip(values, kinds, strict=True), 1):
        cell = ws.cell(row=r, column=col, value=excel_value(value, kind))
        if kind and is_number(value):
            cell.number_format = excel_format(kind)


def _widths(ws: Worksheet, widths: list[int]) -> None:
    for i, w in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(i)].width = w


# Rows of the summary table: label, figure, unit conversion, unit kind.
SUMMARY_ROWS = (
    ("IT energy (MWh)", "energy_kwh", to_mwh),
    ("Facility energy (MWh)", "facility_energy_kwh", to_mwh),
    ("Emissions, location-based (t CO2e)", "location_kg", to_t),
    ("Emissions, market-based (t CO2e)", "market_kg", to_t),
)


def _summary_sheet(
    ws: Worksheet, data: dict[str, Any], meta: dict[str, Any], checksum: str
) -> None:
    """Title, period, checksum and basis; headline figures against the comparisons; the
    key ratios."""
    s = data["summary"]
    period = data["period"]
    ws["A1"] = f"Carbon report {data['organisation']['name']}, {period['title']}"
    ws["A1"].font = TITLE
    ws["A2"] = f"Period {period['start']} to {period['end']} (UTC, end excluded)" + (
        f"; to date: figures cover {period['data_start']} to {period['data_end']} "
        f"({period['description']})"
        if period["to_date"]
        else ""
    )
    ws["A3"] = f"Data checksum (SHA-256) {checksum}; generated {meta['generated_at']}"
    ws["A4"] = (
        f"Factor basis: {data['basis']['label']}. {data['basis']['description']} "
        + basis_sentence(data["basis"])
    )
    prev = s["comparisons"]["previous_period"]
    year = s["comparisons"]["same_period_last_year"]
    nxt = _table(
        ws,
        5,
        [
            "Figure",
            "This period (to date)" if period["to_date"] else "This period",
            f"Previous ({prev['label']}: {prev['description']})",
            "Change %",
            f"Year before ({year['label']}: {year['description']})",
            "Change %",
        ],
        [
            [
                label,
                unit(s[key]),
                unit(prev[key]),
                prev["change_pct"][key],
                unit(year[key]),
                year["change_pct"][key],
            ]
            for label, key, unit in SUMMARY_ROWS
        ],
        [None, "mwh", "mwh", "pct", "mwh", "pct"],
    )
    # Each comparison states the two ranges it compares.
    for label, cmp in (("Previous period", prev), ("Year before", year)):
        ws.cell(row=nxt, column=1, value=label).font = Font(bold=True)
        ws.cell(row=nxt, column=2, value=cmp["text"])
        nxt += 1
    nxt += 1
    m = data["methods"]
    c = data["components"]
    i = data["intensity"]
    figures: list[list[Any]] = [
        ["Runs started", s["run_count"], None],
        ["GPU-hours", s["gpu_hours"], "hours"],
        ["Measured energy share %", m["measured"]["share_pct"], "pct"],
        ["Estimated energy share %", m["estimated"]["share_pct"], "pct"],
        ["Imported energy share %", m["imported"]["share_pct"], "pct"],
        ["CPU energy (MWh)", to_mwh(c["cpu"]["energy_kwh"]), "mwh"],
        ["GPU energy (MWh)", to_mwh(c["gpu"]["energy_kwh"]), "mwh"],
        ["RAM energy (MWh)", to_mwh(c["ram"]["energy_kwh"]), "mwh"],
        ["Energy-weighted PUE", data["pue"]["weighted_average"], "pue"],
        ["kg CO2e per run", i["kg_per_run"], "kg"],
        ["kg CO2e per GPU-hour", i["kg_per_gpu_hour"], "kg"],
        ["Average intensity (g CO2e/kWh facility)", i["g_per_kwh"], "g_per_kwh"],
    ]
    ws.cell(row=nxt, column=1, value="Figure").font = HEAD
    for r, (label, value, kind) in enumerate(figures, nxt + 1):
        ws.cell(row=r, column=1, value=label)
        # A figure of a unit kind keeps its number format even when it is n/a (empty).
        cell = ws.cell(row=r, column=2, value=excel_value(value, kind))
        if kind:
            cell.number_format = excel_format(kind)
    _widths(ws, [40, 16, 18, 12, 20, 12])


def _projects_sheet(ws: Worksheet, data: dict[str, Any]) -> None:
    _table(
        ws,
        1,
        [
            "Project",
            "Scope",
            "Runs",
            "IT energy (MWh)",
            "Facility energy (MWh)",
            "Location-based (t CO2e)",
            "Measured (MWh)",
            "GPU-hours",
        ],
        [
            [
                p["name"],
                p["scope"],
                p["run_count"],
                to_mwh(p["energy_kwh"]),
                to_mwh(p["facility_energy_kwh"]),
                to_t(p["emissions_kg"]),
                to_mwh(p["measured_energy_kwh"]),
                p["gpu_hours"],
            ]
            for p in data["projects"]
        ],
        [None, None, None, "mwh", "mwh", "t", "mwh", "hours"],
    )
    _widths(ws, [28, 16, 8, 16, 18, 20, 16, 12])


def _zones_sheet(ws: Worksheet, data: dict[str, Any]) -> None:
    nxt = _table(
        ws,
        1,
        [
            "Zone",
            "Zone name",
            "Provider",
            "Region",
            "IT energy (MWh)",
            "Facility energy (MWh)",
            "Location-based (t CO2e)",
        ],
        [
            [
                z["zone"],
                z["zone_label"],
                z["cloud_provider"] or "-",
                z["cloud_region"] or "-",
                to_mwh(z["energy_kwh"]),
                to_mwh(z["facility_energy_kwh"]),
                to_t(z["emissions_kg"]),
            ]
            for z in data["zones"]
        ],
        [None, None, None, None, "mwh", "mwh", "t"],
    )
    _table(
        ws,
        nxt,
        ["Provider", "IT energy (MWh)", "Location-based (t CO2e)"],
        [
            [
                p["cloud_provider"] or "(own or unknown)",
                to_mwh(p["energy_kwh"]),
                to_t(p["emissions_kg"]),
            ]
            for p in data["providers"]
        ],
        [None, "mwh", "t"],
    )
    _widths(ws, [14, 40, 14, 16, 16, 18, 20])


def _factors_sheet(ws: Worksheet, data: dict[str, Any]) -> None:
    _table(
        ws,
        1,
        [
            "Zone",
            "Zone name",
            "Dataset",
            "g CO2e/kWh",
            "Year",
            "Fallback",
            "Basis",
            "Source",
            "Licence",
            "URL",
            "Facility energy (MWh)",
            "t CO2e",
        ],
        [
            [
                f["zone"],
                f["zone_label"],
                f["dataset_version"],
                f["g_per_kwh"],
                f["year"],
                "yes" if f["is_fallback"] else "no",
                f["basis"] + (" (derived: " + f["note"] + ")" if f["derived"] else ""),
                f["source"],
                f["licence"],
                f["url"],
                to_mwh(f["facility_energy_kwh"]),
                to_t(f["emissions_kg"]),
            ]
            for f in data["factors"]
        ],
        [None, None, None, "g_per_kwh", None, None, None, None, None, None, "mwh", "t"],
    )
    _widths(ws, [12, 30, 12, 12, 8, 9, 30, 60, 20, 40, 16, 12])


def _market_sheet(ws: Worksheet, data: dict[str, Any]) -> None:
    nxt = _table(
        ws,
        1,
        [
            "Zone",
            "Scope",
            "Facility energy (MWh)",
            "Covered by instruments (MWh)",
            "Residual (MWh)",
            "Residual mix g/kWh",
            "Residual source",
            "Location-based (t)",
            "Market-based (t)",
        ],
        [
            [
                ln["zone"],
                ln["scope"],
                to_mwh(ln["facility_energy_kwh"]),
                to_mwh(ln["covered_kwh"]),
                to_mwh(ln["residual_kwh"]),
                ln["residual"]["g_per_kwh"],
                ln["residual"]["source"]
                + (" (fallback: location factor)" if ln["residual"]["is_fallback"] else ""),
                to_t(ln["location_kg"]),
                to_t(ln["market_kg"]),
            ]
            for ln in data["market"]["lines"]
        ],
        [None, None, "mwh", "mwh", "mwh", "g_per_kwh", None, "t", "t"],
    )
    _table(
        ws,
        nxt,
        [
            "Instrument",
            "Zone",
            "Valid from",
            "Valid to",
            "Basis",
            "g CO2e/kWh",
            "Available (MWh)",
            "Used (MWh)",
            "Unused (MWh)",
            "Notes",
        ],
        [
            [
                ins["kind_label"],
                ins["zone"],
                ins["period_start"],
                ins["period_end"],
                ins["basis"],
                ins["g_per_kwh"],
                to_mwh(ins["available_kwh"]),
                to_mwh(ins["used_kwh"]),
                to_mwh(ins["unused_kwh"]),
                ins["notes"],
            ]
            for ins in data["market"]["instruments"]
        ],
        [None, None, None, None, None, "g_per_kwh", "mwh", "mwh", "mwh", None],
    )
    _widths(ws, [30, 10, 16, 18, 40, 14, 40, 16, 16, 30])


def _esrs_sheet(ws: Worksheet, data: dict[str, Any]) -> None:
    e5 = data["esrs_e1_5"]
    ws["A1"] = "ESRS E1-5 Energy consumption (MWh, facility energy)"
    ws["A1"].font = TITLE
    nxt = _table(
        ws,
        2,
        ["Source", "Own operations (Scope 2)", "Cloud (Scope 3, for information)", "Total"],
        [
            [k, to_mwh(e5["own_operations"][k]), to_mwh(e5["cloud"][k]), to_mwh(e5["total"][k])]
            for k in ("fossil", "nuclear", "renewable", "unknown")
        ],
        [None, "mwh", "mwh", "mwh"],
    )
    e6 = data["esrs_e1_6"]
    ws.cell(row=nxt, column=1, value="ESRS E1-6 Gross GHG emissions (t CO2e)").font = TITLE
    _table(
        ws,
        nxt + 1,
        ["Line", "Location-based", "Market-based"],
        [
            ["Gross Scope 1", "not covered by the hub", "not covered by the hub"],
            [
                "Gross Scope 2 (owned and colocated hardware)",
                to_t(e6["scope2_location_kg"]),
                to_t(e6["scope2_market_kg"]),
            ],
            [
                "Gross Scope 3 category 1 (cloud)",
                to_t(e6["scope3_cat1_location_kg"]),
                to_t(e6["scope3_cat1_market_kg"]),
            ],
            ["Total", to_t(e6["total_location_kg"]), to_t(e6["total_market_kg"])],
        ],
        [None, "t", "t"],
    )
    _widths(ws, [46, 24, 30, 16])


def _gaps_sheet(ws: Worksheet, data: dict[str, Any]) -> None:
    g = data["gaps"]
    # Each row has its own unit, so each is rounded by its own rule (counts not at all).
    gaps: list[tuple[str, Any, str, str | None]] = [
        (
            "Energy with unknown location (world average used)",
            to_mwh(g["location_unknown_energy_kwh"]),
            "MWh",
            "mwh",
        ),
        ("Share of energy with unknown location", g["location_unknown_share_pct"], "%", "pct"),
        ("Lost runs (stopped reporting)", g["lost_run_count"], "runs", None),
        ("Energy reported by lost runs", to_mwh(g["lost_energy_kwh"]), "MWh", "mwh"),
        ("Runs still running", g["running_run_count"], "runs", None),
        ("Imported energy (method unknown)", to_mwh(g["imported_energy_kwh"]), "MWh", "mwh"),
        ("Share of imported energy", g["imported_share_pct"], "%", "pct"),
    ]
    _table(ws, 1, ["Gap", "Value", "Unit"], [], [None, None, None])
    for r, (label, value, unit, kind) in enumerate(gaps, 2):
        _table_row(ws, r, [label, value, unit], [None, kind, None])
    _widths(ws, [50, 16, 8])


def _top_runs_sheet(ws: Worksheet, data: dict[str, Any]) -> None:
    _table(
        ws,
        1,
        [
            "Run",
            "Project",
            "Experiment",
            "Status",
            "Started",
            "Zone",
            "Energy (MWh)",
            "t CO2e",
            "GPU-hours",
            "Measured %",
        ],
        [
            [
                r["name"],
                r["project"],
                r["experiment"],
                r["status"],
                r["started_at"],
                r["zone"],
                to_mwh(r["energy_kwh"]),
                to_t(r["emissions_kg"]),
                r["gpu_hours"],
                r["measured_share_pct"],
            ]
            for r in data["top_runs"]
        ],
        [None, None, None, None, None, None, "mwh", "t", "hours", "pct"],
    )
    _widths(ws, [30, 20, 20, 10, 26, 12, 14, 12, 12, 12])


def _methodology_sheet(ws: Worksheet, data: dict[str, Any]) -> None:
    """The methodology text (``data["methodology"]``) and the datasets used."""
    ws["A1"] = "Methodology and defaults"
    ws["A1"].font = TITLE
    r = 3
    for section in data["methodology"]:
        ws.cell(row=r, column=1, value=section["title"]).font = Font(bold=True)
        cell = ws.cell(row=r, column=2, value=section["text"])
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        r += 1
    for d in data["datasets"]:
        ws.cell(row=r, column=1, value=f"Dataset {d['version']}").font = Font(bold=True)
        ws.cell(
            row=r,
            column=2,
            value=f"{d['name']} ({d['year']}). {d['source']}. Licence: {d['licence']}. {d['url']}",
        ).alignment = Alignment(wrap_text=True)
        r += 1
    _widths(ws, [30, 120])


def _detail_sheet(ws: Worksheet, data: dict[str, Any]) -> None:
    """The CSV's rows and columns, full precision."""
    for col, h in enumerate(CSV_COLUMNS, 1):
        cell = ws.cell(row=1, column=col, value=h)
        cell.font = HEAD
        cell.fill = HEAD_FILL
    period_cols = period_columns(data)
    for row_i, row in enumerate(data["detail"], 2):
        full = {**row, **period_cols}
        for col, name in enumerate(CSV_COLUMNS, 1):
            ws.cell(row=row_i, column=col, value=full[name])


# The sheets after Summary, in tab order.
SHEETS: tuple[tuple[str, Callable[[Worksheet, dict[str, Any]], None]], ...] = (
    ("Projects", _projects_sheet),
    ("Zones", _zones_sheet),
    ("Factors", _factors_sheet),
    ("Market-based", _market_sheet),
    ("ESRS", _esrs_sheet),
    ("Data gaps", _gaps_sheet),
    ("Top runs", _top_runs_sheet),
    ("Methodology", _methodology_sheet),
    ("Detail", _detail_sheet),
)


def render_xlsx(data: dict[str, Any], meta: dict[str, Any], checksum: str) -> bytes:
    """Workbook: Summary, Projects, Zones, Factors, Market-based, ESRS, Data gaps,
    Top runs, Methodology and Detail sheets."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Summary"
    _summary_sheet(ws, data, meta, checksum)
    for title, sheet in SHEETS:
        sheet(wb.create_sheet(title), data)
    # Every cell, whichever sheet wrote it, keeps its text as text.
    for each in wb.worksheets:
        for row in each.iter_rows():
            for cell in row:
                xlsx_cell(cell)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
