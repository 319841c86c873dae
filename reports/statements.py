"""Carbon statements for papers: one run or one experiment, in Markdown and LaTeX.

Each statement gives hardware, duration, energy, location, factor, emissions and the
method, plus the Software Carbon Intensity (ISO/IEC 21031:2024) computed by
:func:`carbon.sci`, with embodied emissions where a ``HardwareFootprint`` is recorded for
the run's GPU model (otherwise "not configured"). Figures are written by
``reports.formatting``, as in the reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import carbon
from api import queries
from api.models import METHOD_CHOICES, Experiment, Measurement, Run
from reports.formatting import latex_text, markdown_text, number, plain
from reports.models import HardwareFootprint


@dataclass(frozen=True)
class RunSci:
    result: carbon.SciResult
    embodied_note: str


def _hours(run: Run) -> float:
    return (
        run.wall_duration_s / 3600.0
        if run.wall_duration_s
        else run.duration_s / 3600.0 / max(run.rank_count, 1)
    )


def run_sci(run: Run) -> RunSci:
    """SCI of one run, R = one training run; I is the run's location-based factor.

    E is facility energy (IT energy x PUE). M = embodied of the run's GPUs x (wall time /
    lifetime) when the GPU model has a recorded footprint, else zero and said so.
    """
    gpu_model = str(run.hardware.get("gpu_model") or "").strip()
    gpu_count = int(run.hardware.get("gpu_count") or 0)
    footprint = (
        HardwareFootprint.objects.filter(model_name__iexact=gpu_model).first()
        if gpu_model
        else None
    )
    hours = _hours(run)
    if footprint is not None and gpu_count > 0:
        reserved = min(hours, footprint.lifetime_hours)
        result = carbon.sci(
            energy_kwh=run.energy_kwh * run.pue,
            g_per_kwh=run.factor.g_per_kwh,
            embodied_total_kg=footprint.embodied_kg * gpu_count,
            reserved_hours=reserved,
            lifetime_hours=footprint.lifetime_hours,
            resource_share=1.0,
            functional_units=1,
        )
        note = (
            f"{gpu_count} x {footprint.model_name}: {plain(footprint.embodied_kg)} kg CO2e each over "
            f"{plain(footprint.lifetime_hours)} h ({footprint.source})"
        )
    else:
        result = carbon.sci(energy_kwh=run.energy_kwh * run.pue, g_per_kwh=run.factor.g_per_kwh)
        note = "not configured" + (f" for {gpu_model}" if gpu_model else "")
    return RunSci(result, note)


def _hardware(runs: list[Run]) -> str:
    seen: list[str] = []
    for run in runs:
        hw = run.hardware or {}
        parts = []
        if hw.get("gpu_model"):
            parts.append(f"{hw.get('gpu_count') or 1} x {hw['gpu_model']}")
        if hw.get("cpu_model"):
            parts.append(
                f"{hw.get('cpu_count') or 1} x {hw['cpu_model']}"
                if hw.get("cpu_count")
                else str(hw["cpu_model"])
            )
        if hw.get("ram_gb"):
            parts.append(f"{plain(hw['ram_gb'])} GB RAM")
        text = ", ".join(parts) or "not reported"
        if run.node_count > 1:
            text += f" per node, {run.node_count} nodes"
        if text not in seen:
            seen.append(text)
    return "; ".join(seen) or "not reported"


def _period(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "no measurements"
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"


def run_statement(run: Run) -> dict[str, Any]:
    """The facts of one run's statement."""
    sci_run = run_sci(run)
    f = run.factor
    return {
        "subject": f"run {run.name or run.run_key}",
        "project": run.project.name,
        "experiment": run.experiment.name,
        "hardware": _hardware([run]),
        "period": _period(run.first_start, run.last_end),
        "wall_hours": _hours(run),
        "gpu_hours": run.gpu_hours,
        "energy_kwh": run.energy_kwh,
        "cpu_kwh": run.cpu_energy_kwh,
        "gpu_kwh": run.gpu_energy_kwh,
        "ram_kwh": run.ram_energy_kwh,
        "measured_pct": run.measured_energy_kwh / run.energy_kwh * 100.0
        if run.energy_kwh
        else None,
        "pue": run.pue,
        "facility_kwh": run.energy_kwh * run.pue,
        "location": run.zone_label
        + ("" if run.location_known else " (location unknown: world average)"),
        "factors": [
            f"{plain(f.g_per_kwh)} g CO2e/kWh ({f.basis_label} basis; {f.zone}, {f.source}, {f.year}; dataset {f.dataset_version})"
        ],
        "emissions_kg": run.emissions_kg,
        "sci_kg": sci_run.result.sci_kg,
        "sci_unit": "per training run",
        "embodied_kg": sci_run.result.embodied_kg,
        "embodied_note": sci_run.embodied_note,
        "run_count": 1,
        "methods": energy_methods([run]),
    }


def experiment_statement(exp: Experiment) -> dict[str, Any]:
    """The facts of an experiment's statement: every run, failed and lost included."""
    runs = list(
        Run.objects.filter(experiment=exp)
        .select_related("factor", "project")
        .order_by("started_at", "id")
    )
    totals = queries.run_totals(Run.objects.filter(experiment=exp))
    scis = [run_sci(r) for r in runs]
    total_sci = sum(s.result.total_kg for s in scis)
    energy = totals["energy_kwh"]
    facility = sum(r.energy_kwh * r.pue for r in runs)
    factors = sorted(
        {
            f"{plain(r.factor.g_per_kwh)} g CO2e/kWh ({r.factor.basis_label} basis; {r.factor.zone}, {r.factor.source}, {r.factor.year}; dataset {r.factor.dataset_version})"
            for r in runs
        }
    )
    locations = sorted(
        {r.zone_label + ("" if r.location_known else " (location unknown)") for r in runs}
    )
    notes = sorted({s.embodied_note for s in scis})
    starts = [r.first_start for r in runs if r.first_start]
    ends = [r.last_end for r in runs if r.last_end]
    return {
        "subject": f"experiment {exp.name} ({len(runs)} runs)",
        "project": exp.project.name,
        "experiment": exp.name,
        "hardware": _hardware(runs),
        "period": _period(min(starts) if starts else None, max(ends) if ends else None),
        "wall_hours": sum(_hours(r) for r in runs),
        "gpu_hours": totals["gpu_hours"],
        "energy_kwh": energy,
        "cpu_kwh": sum(r.cpu_energy_kwh for r in runs),
        "gpu_kwh": sum(r.gpu_energy_kwh for r in runs),
        "ram_kwh": sum(r.ram_energy_kwh for r in runs),
        "measured_pct": totals["measured_energy_kwh"] / energy * 100.0 if energy else None,
        "pue": facility / energy if energy else None,
        "facility_kwh": facility,
        "location": "; ".join(locations) or "no runs",
        "factors": factors,
        "emissions_kg": totals["emissions_kg"],
        "sci_kg": total_sci / len(runs) if runs else None,
        "sci_unit": "per training run (mean over the experiment's runs)",
        "embodied_kg": sum(s.result.embodied_kg for s in scis),
        "embodied_note": "; ".join(notes) or "not configured",
        "run_count": len(runs),
        "methods": energy_methods(runs),
    }


METHOD = (
    "Energy was recorded per process and interval by Emissions Hub ({methods}), multiplied by "
    "the data centre's PUE, and converted to emissions with the yearly average carbon intensity "
    "of the grid zone where the computation ran (location-based, GHG Protocol Scope 2 "
    "Guidance). The Software Carbon Intensity follows ISO/IEC 21031:2024, SCI = (E x I + M) per R."
)
METHOD_LABELS = dict(METHOD_CHOICES)


def energy_methods(runs: list[Run]) -> str:
    """How each component's energy was obtained in these runs, from their measurements."""
    rows = (
        Measurement.objects.filter(run__in=runs)
        .order_by()
        .values_list("cpu_method", "gpu_method", "ram_method")
        .distinct()
    )
    used: dict[str, set[str]] = {"CPU": set(), "GPU": set(), "RAM": set()}
    for cpu, gpu, ram in rows:
        for name, method in (("CPU", cpu), ("GPU", gpu), ("RAM", ram)):
            if method != "none":
                used[name].add(METHOD_LABELS.get(method, method))
    parts = [f"{name}: {', '.join(sorted(methods))}" for name, methods in used.items() if methods]
    return "; ".join(parts) or "no measurements"


def _lines(s: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("Hardware", s["hardware"]),
        (
            "Duration",
            f"{number(s['wall_hours'], 'hours')} h wall-clock ({s['period']}); {number(s['gpu_hours'], 'hours')} GPU-hours",
        ),
        (
            "Energy",
            f"{number(s['energy_kwh'], 'kwh')} kWh IT energy (CPU {number(s['cpu_kwh'], 'kwh')}, GPU {number(s['gpu_kwh'], 'kwh')}, "
            f"RAM {number(s['ram_kwh'], 'kwh')}; {number(s['measured_pct'], 'pct')} % measured); PUE {number(s['pue'], 'pue')}; "
            f"{number(s['facility_kwh'], 'kwh')} kWh facility energy",
        ),
        ("Location", s["location"]),
        ("Emission factor", "; ".join(s["factors"]) or "none"),
        ("Emissions", f"{number(s['emissions_kg'], 'kg')} kg CO2e (location-based)"),
        (
            "SCI (ISO/IEC 21031)",
            f"{number(s['sci_kg'], 'kg')} kg CO2e {s['sci_unit']}; embodied emissions {number(s['embodied_kg'], 'kg')} kg CO2e ({s['embodied_note']})",
        ),
        ("Method", METHOD.format(methods=s["methods"])),
    ]


def to_markdown(s: dict[str, Any]) -> str:
    """A Markdown statement, ready to paste into a paper's appendix or a README. Every text
    goes through ``formatting.markdown_text``, so a name cannot add a link, markup or a cell."""
    md = markdown_text
    out = [
        f"## Carbon statement: {md(s['subject'])}",
        "",
        f"Project *{md(s['project'])}*, experiment *{md(s['experiment'])}*.",
        "",
    ]
    out += ["| | |", "|---|---|"]
    out += [f"| **{md(k)}** | {md(v)} |" for k, v in _lines(s)]
    out += [
        "",
        f"The {md(s['subject'])} used {number(s['energy_kwh'], 'kwh')} kWh of electricity and emitted "
        f"{number(s['emissions_kg'], 'kg')} kg CO2e (location-based), as recorded by Emissions Hub.",
        "",
    ]
    return "\n".join(out)


# The former name, still imported by tests/reports/test_report_statements.py.
tex_escape = latex_text


def to_latex(s: dict[str, Any]) -> str:
    """A LaTeX statement (a ``table`` float with a tabular), for ``\\input`` in a paper. Every
    text goes through ``formatting.latex_text``, so a name cannot run a command."""
    rows = "\n".join(f"  \\textbf{{{latex_text(k)}}} & {latex_text(v)} \\\\" for k, v in _lines(s))
    caption = latex_text(
        f"Carbon statement for {s['subject']} (project {s['project']}): "
        f"{number(s['energy_kwh'], 'kwh')} kWh, {number(s['emissions_kg'], 'kg')} kg CO2e."
    )
    return (
        "% Carbon statement generated by Emissions Hub\n"
        "\\begin{table}[ht]\n"
        "\\centering\n"
        "\\small\n"
        "\\begin{tabular}{@{}p{0.22\\linewidth}p{0.72\\linewidth}@{}}\n"
        "\\hline\n"
        f"{rows}\n"
        "\\hline\n"
        "\\end{tabular}\n"
        f"\\caption{{{caption}}}\n"
        "\\end{table}\n"
    )
