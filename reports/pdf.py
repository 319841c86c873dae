"""The PDF report, for people: paginated, with header, footer, tables and charts.

Owns the PDF's layout: page decoration, table and chart styles, and one function per
section (:data:`SECTIONS`, in page order). Built with reportlab platypus and
reportlab.graphics charts from the dict of :func:`reports.build.build_report_data`; every
figure is written by ``reports.formatting`` (which rounds with ``reports.rounding``).
Paragraphs parse their text as markup, so every text put in one goes through
``formatting.pdf_text`` (table cells in :func:`_table`); chart labels and the page
decoration are drawn as plain strings, which reportlab never parses.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.piecharts import Pie
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import Flowable

from reports.formatting import (
    basis_sentence,
    change,
    count,
    mwh,
    number,
    pct,
    pdf_text,
    scope_short,
    share_pct,
    tonnes,
)

GREEN = colors.HexColor("#2E6B4F")
LIGHT = colors.HexColor("#EAF2EE")
PALETTE = [
    colors.HexColor(c)
    for c in (
        "#2E6B4F",
        "#5B9A7D",
        "#9BC4AE",
        "#D9A441",
        "#B85C38",
        "#6C757D",
        "#3E5C76",
        "#8E7DBE",
    )
]

_styles = getSampleStyleSheet()
BODY = ParagraphStyle("body", parent=_styles["BodyText"], fontSize=9, leading=12)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=7.5, leading=9.5)
CELL = ParagraphStyle("cell", parent=BODY, fontSize=8, leading=10)
CELL_R = ParagraphStyle("cellr", parent=CELL, alignment=TA_RIGHT)
H1 = ParagraphStyle("h1", parent=_styles["Heading1"], fontSize=18, textColor=GREEN, spaceAfter=6)
# keepWithNext: a heading never ends a page without its table.
H2 = ParagraphStyle(
    "h2",
    parent=_styles["Heading2"],
    fontSize=12.5,
    textColor=GREEN,
    spaceBefore=10,
    spaceAfter=4,
    keepWithNext=1,
)
H3 = ParagraphStyle(
    "h3", parent=_styles["Heading3"], fontSize=10, spaceBefore=6, spaceAfter=2, keepWithNext=1
)


def _table(
    headers: list[str],
    rows: list[list[Any]],
    widths: list[float],
    numeric_from: int = 1,
    total: bool = False,
) -> Table:
    """A zebra table; columns from ``numeric_from`` are right-aligned."""
    body: list[list[Any]] = [
        [
            Paragraph(f"<b>{pdf_text(h)}</b>", CELL if i < numeric_from else CELL_R)
            for i, h in enumerate(headers)
        ]
    ]
    for row in rows:
        body.append(
            [
                Paragraph(pdf_text(v), CELL if i < numeric_from else CELL_R)
                for i, v in enumerate(row)
            ]
        )
    t = Table(body, colWidths=widths, repeatRows=1, hAlign="LEFT")
    style = [
        ("BACKGROUND", (0, 0), (-1, 0), LIGHT),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, GREEN),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    for r in range(2, len(body), 2):
        style.append(("BACKGROUND", (0, r), (-1, r), colors.HexColor("#F7F9F8")))
    if total and len(body) > 1:
        style.append(("LINEABOVE", (0, -1), (-1, -1), 0.8, GREEN))
    t.setStyle(TableStyle(style))
    return t


class _NumberedCanvas(Canvas):
    """Two-pass canvas so the footer can say "page 3 of 9"."""

    header_text = ""
    footer_text = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._saved: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._saved.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._saved)
        for state in self._saved:
            self.__dict__.update(state)
            self._decorate(total)
            super().showPage()
        super().save()

    def _decorate(self, total: int) -> None:
        width, height = A4
        self.saveState()
        self.setStrokeColor(GREEN)
        self.setLineWidth(0.6)
        self.line(18 * mm, height - 14 * mm, width - 18 * mm, height - 14 * mm)
        self.line(18 * mm, 14 * mm, width - 18 * mm, 14 * mm)
        self.setFont("Helvetica", 7.5)
        self.setFillColor(colors.HexColor("#444444"))
        self.drawString(18 * mm, height - 12 * mm, self.header_text)
        self.drawRightString(width - 18 * mm, height - 12 * mm, "Emissions Hub")
        self.drawString(18 * mm, 10 * mm, self.footer_text)
        self.drawRightString(width - 18 * mm, 10 * mm, f"Page {self._pageNumber} of {total}")
        self.restoreState()


def _bar_monthly(monthly: list[dict[str, Any]]) -> Drawing:
    d = Drawing(170 * mm, 60 * mm)
    d.add(
        String(
            0,
            56 * mm,
            "Location-based emissions per month (t CO2e)",
            fontName="Helvetica-Bold",
            fontSize=8,
        )
    )
    if not monthly:
        d.add(String(0, 30 * mm, "No usage in this period.", fontSize=8))
        return d
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 14 * mm, 8 * mm, 150 * mm, 42 * mm
    chart.data = [[(m["emissions_kg"] or 0.0) / 1000.0 for m in monthly]]
    chart.categoryAxis.categoryNames = [m["month"] for m in monthly]
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.bars[0].fillColor = GREEN
    chart.bars[0].strokeColor = None
    d.add(chart)
    return d


def _bar_projects(projects: list[dict[str, Any]]) -> Drawing:
    top = [p for p in projects if p["emissions_kg"] > 0][:8]
    height = max(30, 9 * len(top) + 14) * mm
    d = Drawing(170 * mm, height)
    more = len([p for p in projects if p["emissions_kg"] > 0]) > len(top)
    title = (
        f"Location-based emissions, top {len(top)} projects (t CO2e)"
        if more
        else "Location-based emissions by project (t CO2e)"
    )
    d.add(String(0, height - 4 * mm, title, fontName="Helvetica-Bold", fontSize=8))
    if not top:
        d.add(String(0, height / 2, "No emissions in this period.", fontSize=8))
        return d
    chart = HorizontalBarChart()
    chart.x, chart.y = 40 * mm, 6 * mm
    chart.width, chart.height = 120 * mm, height - 14 * mm
    chart.data = [[p["emissions_kg"] / 1000.0 for p in reversed(top)]]
    chart.categoryAxis.categoryNames = [p["name"][:24] for p in reversed(top)]
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.bars[0].fillColor = PALETTE[1]
    chart.bars[0].strokeColor = None
    d.add(chart)
    return d


def _pie(title: str, parts: list[tuple[str, float]]) -> Drawing:
    d = Drawing(80 * mm, 55 * mm)
    d.add(String(0, 51 * mm, title, fontName="Helvetica-Bold", fontSize=8))
    parts = [(label, value) for label, value in parts if value > 0]
    if not parts:
        d.add(String(0, 25 * mm, "No energy in this period.", fontSize=8))
        return d
    pie = Pie()
    pie.x, pie.y, pie.width, pie.height = 4 * mm, 4 * mm, 40 * mm, 40 * mm
    pie.data = [v for _, v in parts]
    total = sum(pie.data)
    pie.labels = None
    pie.slices.strokeColor = colors.white
    for i in range(len(parts)):
        pie.slices[i].fillColor = PALETTE[i % len(PALETTE)]
    d.add(pie)
    legend = Legend()
    legend.x, legend.y = 50 * mm, 34 * mm
    legend.fontSize = 7.5
    legend.alignment = "right"
    legend.columnMaximum = 6
    legend.colorNamePairs = [
        (PALETTE[i % len(PALETTE)], f"{label} {number(v / total * 100.0, 'pct')} %")
        for i, (label, v) in enumerate(parts)
    ]
    d.add(legend)
    return d


def _charts_row(left: Flowable, right: Flowable) -> Table:
    t = Table([[left, right]], colWidths=[87 * mm, 87 * mm], hAlign="LEFT")
    t.setStyle(
        TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)])
    )
    return t


Story = list[Flowable]


# --- sections, in page order --------------------------------------------------------------


def _cover(data: dict[str, Any], checksum: str) -> Story:
    """Title, period, scope, factor basis, datasets and checksum."""
    org = data["organisation"]["name"]
    period = data["period"]
    scope = (
        "all projects of the organisation" if data["scope"]["all_projects"] else "selected projects"
    )
    names = ", ".join(p["name"] for p in data["scope"]["projects"]) or "none"
    story: Story = [
        Paragraph(pdf_text(f"Energy and carbon report: {org}"), H1),
        Paragraph(
            f"<b>Period</b> {pdf_text(period['label'])}: {pdf_text(period['start'][:10])} to {pdf_text(period['end'][:10])} "
            f"(UTC, end excluded). <b>Scope</b> {scope}: {pdf_text(names)}.",
            BODY,
        ),
        Paragraph(
            f"<b>Factor basis</b>: {pdf_text(data['basis']['label'])}. "
            f"{pdf_text(data['basis']['description'])} " + pdf_text(basis_sentence(data["basis"])),
            BODY,
        ),
    ]
    if period["to_date"]:
        story.append(
            Paragraph(
                f"<b>To date.</b> The period had not ended when this report was generated: every "
                f"figure covers {pdf_text(period['description'])}, up to the last complete hour "
                "before generation. Comparisons are like for like: the same elapsed length of "
                "the periods compared with.",
                BODY,
            )
        )
    story.append(
        Paragraph(
            f"<b>Factor datasets</b> {pdf_text(', '.join(d['version'] for d in data['datasets']) or 'none used')}. "
            f"<b>Data checksum</b> (SHA-256 of the figures) {checksum}.",
            SMALL,
        )
    )
    story.append(Spacer(1, 4 * mm))
    return story


# Rows of the summary table: label, figure, how it is written.
SUMMARY_ROWS = (
    ("IT energy (MWh)", "energy_kwh", mwh),
    ("Facility energy incl. PUE (MWh)", "facility_energy_kwh", mwh),
    ("Location-based (t CO2e)", "location_kg", tonnes),
    ("Market-based (t CO2e)", "market_kg", tonnes),
)


def _summary(data: dict[str, Any]) -> Story:
    """Headline figures against the two comparisons, the ranges compared, the key ratios
    and the charts."""
    s = data["summary"]
    period = data["period"]
    prev = s["comparisons"]["previous_period"]
    year = s["comparisons"]["same_period_last_year"]
    rows = [
        [
            label,
            write(s[key]),
            write(prev[key]),
            change(prev["change_pct"][key]),
            write(year[key]),
            change(year["change_pct"][key]),
        ]
        for label, key, write in SUMMARY_ROWS
    ]
    story: Story = [Paragraph("Summary", H2)]
    story.append(
        _table(
            [
                "",
                "This period, to date" if period["to_date"] else "This period",
                f"Previous {prev['label']}" + (", same part" if prev["to_date"] else ""),
                "Change",
                f"Year before {year['label']}" + (", same part" if year["to_date"] else ""),
                "Change",
            ],
            rows,
            [48 * mm, 22 * mm, 24 * mm, 22 * mm, 34 * mm, 22 * mm],
        )
    )
    story.append(Spacer(1, 1 * mm))
    # Each comparison states the two ranges it compares.
    for name, cmp in (("Previous", prev), ("Year before", year)):
        story.append(Paragraph(f"<b>{name}:</b> {pdf_text(cmp['text'])}.", SMALL))
    story.append(Spacer(1, 2 * mm))
    m = data["methods"]
    i = data["intensity"]
    story.append(
        Paragraph(
            f"{count(s['run_count'])} runs started in the period; {number(s['gpu_hours'], 'hours')} GPU-hours; "
            f"{count(s['measurement_count'])} measurements. Measured energy {pct(m['measured']['share_pct'])}, "
            f"estimated {pct(m['estimated']['share_pct'])}, imported {pct(m['imported']['share_pct'])}. "
            f"Energy-weighted PUE {number(data['pue']['weighted_average'], 'pue')}. "
            f"Intensity: {number(i['kg_per_run'], 'kg')} kg CO2e per run, "
            f"{number(i['kg_per_gpu_hour'], 'kg')} kg CO2e per GPU-hour, "
            f"{number(i['kwh_per_gpu_hour'], 'kwh')} kWh per GPU-hour (location-based).",
            BODY,
        )
    )
    story.append(Spacer(1, 3 * mm))
    story.append(_bar_monthly(data["monthly"]))
    c = data["components"]
    story.append(
        _charts_row(
            _pie(
                "IT energy by component",
                [
                    ("CPU", c["cpu"]["energy_kwh"]),
                    ("GPU", c["gpu"]["energy_kwh"]),
                    ("RAM", c["ram"]["energy_kwh"]),
                ],
            ),
            _pie(
                "IT energy by method",
                [
                    ("Measured", m["measured"]["energy_kwh"]),
                    ("Estimated", m["estimated"]["energy_kwh"]),
                    ("Imported", m["imported"]["energy_kwh"]),
                ],
            ),
        )
    )
    return story


def _esrs(data: dict[str, Any]) -> Story:
    """ESRS E1-6 (gross emissions) and E1-5 (energy by source), on a new page."""
    e6 = data["esrs_e1_6"]
    e5 = data["esrs_e1_5"]
    return [
        PageBreak(),
        Paragraph("ESRS E1-6: gross GHG emissions (t CO2e)", H2),
        _table(
            ["", "Location-based", "Market-based"],
            [
                ["Gross Scope 1", "not covered", "not covered"],
                [
                    "Gross Scope 2: owned and colocated hardware",
                    tonnes(e6["scope2_location_kg"]),
                    tonnes(e6["scope2_market_kg"]),
                ],
                [
                    "Gross Scope 3 category 1: cloud computing",
                    tonnes(e6["scope3_cat1_location_kg"]),
                    tonnes(e6["scope3_cat1_market_kg"]),
                ],
                ["Total", tonnes(e6["total_location_kg"]), tonnes(e6["total_market_kg"])],
            ],
            [90 * mm, 40 * mm, 40 * mm],
            total=True,
        ),
        Paragraph("ESRS E1-5: energy consumption by source (MWh, facility energy)", H2),
        _table(
            ["Source", "Own operations (Scope 2)", "Cloud (Scope 3, for information)", "Total"],
            [
                [
                    k.capitalize(),
                    mwh(e5["own_operations"][k]),
                    mwh(e5["cloud"][k]),
                    mwh(e5["total"][k]),
                ]
                for k in ("fossil", "nuclear", "renewable", "unknown")
            ]
            + [
                [
                    "Total",
                    mwh(sum(e5["own_operations"].values())),
                    mwh(sum(e5["cloud"].values())),
                    mwh(sum(e5["total"].values())),
                ]
            ],
            [40 * mm, 42 * mm, 52 * mm, 36 * mm],
            total=True,
        ),
        Paragraph(
            "Split with the yearly generation mix of each zone's country; zones without a recorded mix count as unknown.",
            SMALL,
        ),
    ]


def _projects(data: dict[str, Any]) -> Story:
    s = data["summary"]
    m = data["methods"]
    return [
        Paragraph("By project", H2),
        _bar_projects(data["projects"]),
        _table(
            ["Project", "Scope", "Runs", "IT MWh", "Facility MWh", "t CO2e (loc.)", "Measured"],
            [
                [
                    p["name"],
                    p["scope"],
                    count(p["run_count"]),
                    mwh(p["energy_kwh"]),
                    mwh(p["facility_energy_kwh"]),
                    tonnes(p["emissions_kg"]),
                    pct(share_pct(p["measured_energy_kwh"], p["energy_kwh"])),
                ]
                for p in data["projects"]
            ]
            + [
                [
                    "Total",
                    "",
                    count(s["run_count"]),
                    mwh(s["energy_kwh"]),
                    mwh(s["facility_energy_kwh"]),
                    tonnes(s["location_kg"]),
                    pct(m["measured"]["share_pct"]),
                ]
            ],
            [44 * mm, 24 * mm, 14 * mm, 22 * mm, 24 * mm, 24 * mm, 22 * mm],
            numeric_from=2,
            total=True,
        ),
    ]


def _zones(data: dict[str, Any]) -> Story:
    return [
        Paragraph("By zone, region and provider", H2),
        _table(
            ["Zone", "Provider / region", "IT MWh", "Facility MWh", "t CO2e (loc.)"],
            [
                [
                    f"{z['zone']} - {z['zone_label']}",
                    f"{z['cloud_provider'] or '-'} {z['cloud_region'] or ''}",
                    mwh(z["energy_kwh"]),
                    mwh(z["facility_energy_kwh"]),
                    tonnes(z["emissions_kg"]),
                ]
                for z in data["zones"]
            ],
            [66 * mm, 34 * mm, 22 * mm, 24 * mm, 24 * mm],
            numeric_from=2,
        ),
        Paragraph("By provider", H3),
        _table(
            ["Provider", "IT MWh", "t CO2e (loc.)"],
            [
                [
                    p["cloud_provider"] or "own hardware or not stated",
                    mwh(p["energy_kwh"]),
                    tonnes(p["emissions_kg"]),
                ]
                for p in data["providers"]
            ],
            [70 * mm, 30 * mm, 30 * mm],
        ),
    ]


def _energy(data: dict[str, Any]) -> Story:
    """Energy by component and method, and by PUE, kept on one page."""
    c = data["components"]
    m = data["methods"]
    components_table = _table(
        ["", "MWh", "Share"],
        [
            [name.upper(), mwh(c[name]["energy_kwh"]), pct(c[name]["share_pct"])]
            for name in ("cpu", "gpu", "ram")
        ]
        + [
            [f"{name.capitalize()} energy", mwh(m[name]["energy_kwh"]), pct(m[name]["share_pct"])]
            for name in ("measured", "estimated", "imported")
        ],
        [70 * mm, 30 * mm, 30 * mm],
    )
    pue_table = _table(
        ["PUE", "IT MWh", "Facility MWh"],
        [
            [number(p["pue"], "pue"), mwh(p["energy_kwh"]), mwh(p["facility_energy_kwh"])]
            for p in data["pue"]["values"]
        ],
        [30 * mm, 30 * mm, 30 * mm],
    )
    return [
        KeepTogether(
            [
                Paragraph("Energy by component, method and PUE", H2),
                components_table,
                Spacer(1, 2 * mm),
                pue_table,
            ]
        )
    ]


def _factors(data: dict[str, Any]) -> Story:
    story: Story = [
        Paragraph("Emission factors applied", H2),
        _table(
            ["Zone", "g CO2e/kWh", "Year", "Dataset", "Source", "Facility MWh"],
            [
                [
                    f"{f['zone']}{' (fallback)' if f['is_fallback'] else ''}",
                    number(f["g_per_kwh"], "g_per_kwh")
                    + f" {f['basis']}{' (derived)' if f['derived'] else ''}",
                    str(f["year"]),
                    f["dataset_version"],
                    f["source"],
                    mwh(f["facility_energy_kwh"]),
                ]
                for f in data["factors"]
            ],
            [26 * mm, 20 * mm, 12 * mm, 20 * mm, 70 * mm, 22 * mm],
            numeric_from=5,
        ),
    ]
    for d in data["datasets"]:
        story.append(
            Paragraph(
                f"<b>{pdf_text(d['version'])}</b>: {pdf_text(d['name'])} ({d['year']}). Licence: {pdf_text(d['licence'])}. {pdf_text(d['url'])}",
                SMALL,
            )
        )
    return story


def _market(data: dict[str, Any]) -> Story:
    """Market-based lines per zone and scope, and the instruments used."""
    story: Story = [
        Paragraph("Market-based accounting", H2),
        _table(
            [
                "Zone",
                "Scope",
                "Facility MWh",
                "Covered MWh",
                "Residual g/kWh",
                "t CO2e (loc.)",
                "t CO2e (mkt.)",
            ],
            [
                [
                    ln["zone"],
                    scope_short(ln["scope"]),
                    mwh(ln["facility_energy_kwh"]),
                    mwh(ln["covered_kwh"]),
                    number(ln["residual"]["g_per_kwh"], "g_per_kwh")
                    + (" *" if ln["residual"]["is_fallback"] else ""),
                    tonnes(ln["location_kg"]),
                    tonnes(ln["market_kg"]),
                ]
                for ln in data["market"]["lines"]
            ],
            [22 * mm, 18 * mm, 24 * mm, 24 * mm, 26 * mm, 28 * mm, 28 * mm],
            numeric_from=2,
        ),
        Paragraph(
            "* No residual mix published for this zone: the location-based factor is used, which may understate market-based emissions.",
            SMALL,
        ),
    ]
    if data["market"]["instruments"]:
        story.append(Paragraph("Contractual instruments", H3))
        story.append(
            _table(
                ["Instrument", "Zone", "Valid", "Basis", "g/kWh", "Used MWh", "Unused MWh"],
                [
                    [
                        ins["kind_label"],
                        ins["zone"],
                        f"{ins['period_start']} to {ins['period_end']}",
                        ins["basis"],
                        number(ins["g_per_kwh"], "g_per_kwh"),
                        mwh(ins["used_kwh"]),
                        mwh(ins["unused_kwh"]),
                    ]
                    for ins in data["market"]["instruments"]
                ],
                [34 * mm, 14 * mm, 26 * mm, 44 * mm, 14 * mm, 19 * mm, 19 * mm],
                numeric_from=4,
            )
        )
    else:
        story.append(
            Paragraph(
                "No contractual instruments recorded for this period: market-based emissions use residual mixes only.",
                BODY,
            )
        )
    return story


def _gaps(data: dict[str, Any]) -> Story:
    g = data["gaps"]
    return [
        Paragraph("Data gaps", H2),
        _table(
            ["Gap", "Value"],
            [
                [
                    "Energy with unknown location (world average applied)",
                    f"{mwh(g['location_unknown_energy_kwh'])} MWh ({pct(g['location_unknown_share_pct'])})",
                ],
                [
                    "Lost runs (stopped reporting before finishing)",
                    f"{count(g['lost_run_count'])} runs, {mwh(g['lost_energy_kwh'])} MWh reported",
                ],
                ["Runs still running at generation time", count(g["running_run_count"])],
                [
                    "Imported energy (method of the other tool unknown)",
                    f"{mwh(g['imported_energy_kwh'])} MWh ({pct(g['imported_share_pct'])})",
                ],
            ],
            [100 * mm, 70 * mm],
        ),
    ]


def _top_runs(data: dict[str, Any]) -> Story:
    return [
        Paragraph(f"Top {len(data['top_runs'])} runs by emissions", H2),
        _table(
            ["Run", "Project", "Status", "Zone", "MWh", "t CO2e", "GPU-h"],
            [
                [
                    r["name"],
                    r["project"],
                    r["status"],
                    r["zone"],
                    mwh(r["energy_kwh"]),
                    tonnes(r["emissions_kg"]),
                    number(r["gpu_hours"], "hours"),
                ]
                for r in data["top_runs"]
            ],
            [46 * mm, 30 * mm, 18 * mm, 20 * mm, 20 * mm, 20 * mm, 16 * mm],
            numeric_from=4,
        ),
    ]


def _methodology(data: dict[str, Any]) -> Story:
    """The methodology text (``data["methodology"]``), on a new page."""
    story: Story = [PageBreak(), Paragraph("Methodology and defaults", H2)]
    for section in data["methodology"]:
        story.append(
            KeepTogether(
                [
                    Paragraph(pdf_text(section["title"]), H3),
                    Paragraph(pdf_text(section["text"]), BODY),
                ]
            )
        )
    return story


# The sections after the cover, in page order.
SECTIONS: tuple[Callable[[dict[str, Any]], Story], ...] = (
    _summary,
    _esrs,
    _projects,
    _zones,
    _energy,
    _factors,
    _market,
    _gaps,
    _top_runs,
    _methodology,
)


def render_pdf(data: dict[str, Any], meta: dict[str, Any], checksum: str) -> bytes:
    """The report as a PDF."""
    buf = io.BytesIO()
    org = data["organisation"]["name"]
    period = data["period"]
    # "2026Q4, to date: data up to 1 Dec 2026 11:00 UTC" on every page of a period that
    # had not ended, so that no page can be read as covering the whole period.
    title = f"Carbon report - {org} - {period['title']}"
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=20 * mm,
        bottomMargin=20 * mm,
        title=title,
        author="Emissions Hub",
        subject=f"Energy and emissions of {org}, {period['title']}",
        invariant=1,
    )
    canvas_cls = type(
        "ReportCanvas",
        (_NumberedCanvas,),
        {
            "header_text": title,
            "footer_text": f"Generated {meta['generated_at'][:19]} UTC - data SHA-256 {checksum[:16]}...",
        },
    )
    story = _cover(data, checksum)
    for section in SECTIONS:
        story += section(data)
    doc.build(story, canvasmaker=canvas_cls)
    return buf.getvalue()
