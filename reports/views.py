"""Report pages: list and new-report form, detail with progress, downloads,
contractual instruments, and carbon statements for papers.

Any member may download; members and above may generate; owners and admins manage
instruments (``api.auth.has_role``). What a user may see is the membership rule of
``Organisation.objects.for_user`` / ``Project.objects.for_user`` (``Report.objects
.for_user`` for reports), and an object named in a URL is looked up among those with
``api.access.get_or_404``: another organisation's report is a 404, like a missing one.
A report's period is the one ``api.periods.Period``.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from api.access import get_or_404
from api.auth import has_role
from api.models import Experiment, Organisation, Project, Role, Run
from api.periods import Period, custom
from reports import statements
from reports.forms import InstrumentForm, ReportForm
from reports.models import ContractualInstrument, Report, ReportFile, ReportFormat
from reports.tasks import dispatch, filename_for


def _user(request: HttpRequest) -> User:
    # Every view here is behind login_required, so the user is a real one.
    return cast(User, request.user)


def _organisations(request: HttpRequest) -> list[Organisation]:
    """The user's organisations, by name (the switcher)."""
    return list(Organisation.objects.for_user(_user(request)).order_by("name"))


def _organisation(request: HttpRequest) -> Organisation:
    """The organisation named by ?org=<uuid> among the user's, or the user's first one."""
    mine = Organisation.objects.for_user(_user(request)).order_by("name")
    wanted = request.GET.get("org") or request.POST.get("org")
    if wanted:
        return get_or_404(mine, wanted)
    first = mine.first()
    if first is None:
        raise Http404("You are not a member of any organisation.")
    return first


def _report(request: HttpRequest, report_id: str) -> Report:
    return get_or_404(
        Report.objects.for_user(request.user).select_related("organisation"), report_id
    )


@login_required
def report_list(request: HttpRequest) -> HttpResponse:
    org = _organisation(request)
    can_generate = has_role(request.user, org, Role.MEMBER)
    form = ReportForm(organisation=org)
    if request.method == "POST":
        if not can_generate:
            return HttpResponseForbidden("Viewers may download reports but not generate them.")
        form = ReportForm(request.POST, organisation=org)
        if form.is_valid():
            report = _create(
                org,
                request.user,
                form.period,
                form.cleaned_data["scope"] == "all",
                list(form.cleaned_data["projects"]),
            )
            return redirect("reports:detail", report_id=report.uuid)
    reports = Report.objects.filter(organisation=org).order_by("-created")[:100]
    return render(
        request,
        "reports/list.html",
        {
            "org": org,
            "orgs": _organisations(request),
            "reports": reports,
            "form": form,
            "can_generate": can_generate,
            "can_manage": has_role(request.user, org, Role.ADMIN),
        },
    )


def _create(
    org: Organisation, user: Any, period: Period, all_projects: bool, projects: list[Any]
) -> Report:
    with transaction.atomic():
        report = Report.objects.create(
            organisation=org,
            title=f"Report {period.label}",
            period_start=period.start,
            period_end=period.end,
            all_projects=all_projects,
            created_by=user,
        )
        if not all_projects:
            report.projects.set(projects)
        dispatch(report)
    return report


@login_required
def report_detail(request: HttpRequest, report_id: str) -> HttpResponse:
    report = _report(request, report_id)
    # People look for the PDF first, then the workbook.
    order = [ReportFormat.PDF, ReportFormat.XLSX, ReportFormat.CSV, ReportFormat.JSON]
    files = sorted(
        ReportFile.objects.filter(report=report).only("format", "size_bytes", "sha256"),
        key=lambda f: order.index(ReportFormat(f.format)),
    )
    return render(
        request,
        "reports/detail.html",
        {
            "report": report,
            "files": files,
            "projects": report.scope_projects().order_by("name"),
            "can_generate": has_role(request.user, report.organisation, Role.MEMBER),
        },
    )


@login_required
@require_GET
def report_status(request: HttpRequest, report_id: str) -> JsonResponse:
    """Small JSON the detail page polls while the report is generated."""
    report = _report(request, report_id)
    return JsonResponse(
        {
            "id": str(report.uuid),
            "status": report.status,
            "progress_pct": report.progress_pct,
            "message": report.progress_message,
            "error": report.error,
            "finished": report.is_finished,
            "data_sha256": report.data_sha256,
            "files": [
                {"format": f, "url": reverse("reports:download", args=[report.uuid, f])}
                for f in ReportFile.objects.filter(report=report)
                .order_by("format")
                .values_list("format", flat=True)
            ],
        }
    )


@login_required
@require_GET
def report_download(request: HttpRequest, report_id: str, fmt: str) -> HttpResponse:
    report = _report(request, report_id)
    if fmt not in ReportFormat.values:
        raise Http404
    f = ReportFile.objects.filter(report=report, format=fmt).first()
    if f is None:
        raise Http404("This format is not ready yet.")
    response = HttpResponse(bytes(f.content), content_type=f.content_type)
    disposition = "inline" if fmt == ReportFormat.PDF else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{filename_for(report, fmt)}"'
    response["X-Content-SHA256"] = f.sha256
    return response


@login_required
@require_POST
def report_regenerate(request: HttpRequest, report_id: str) -> HttpResponse:
    """A new report with the same inputs (the old one stays, for comparison)."""
    report = _report(request, report_id)
    if not has_role(request.user, report.organisation, Role.MEMBER):
        return HttpResponseForbidden("Viewers may download reports but not generate them.")
    again = _create(
        report.organisation,
        request.user,
        custom(report.period_start, report.period_end),
        report.all_projects,
        list(report.projects.all()),
    )
    return redirect("reports:detail", report_id=again.uuid)


@login_required
def instrument_list(request: HttpRequest) -> HttpResponse:
    org = _organisation(request)
    if not has_role(request.user, org, Role.ADMIN):
        return HttpResponseForbidden("Only owners and admins manage contractual instruments.")
    form = InstrumentForm()
    if request.method == "POST":
        form = InstrumentForm(request.POST)
        if form.is_valid():
            inst = form.save(commit=False)
            inst.organisation = org
            inst.created_by = _user(request)
            inst.save()
            messages.success(request, f"Recorded {inst}.")
            return redirect(reverse("reports:instruments") + f"?org={org.uuid}")
    return render(
        request,
        "reports/instruments.html",
        {
            "org": org,
            "orgs": _organisations(request),
            "form": form,
            "instruments": ContractualInstrument.objects.filter(organisation=org),
        },
    )


@login_required
@require_POST
def instrument_delete(request: HttpRequest, instrument_id: str) -> HttpResponse:
    inst = get_or_404(
        ContractualInstrument.objects.filter(
            organisation__in=Organisation.objects.for_user(_user(request))
        ).select_related("organisation"),
        instrument_id,
    )
    if not has_role(request.user, inst.organisation, Role.ADMIN):
        return HttpResponseForbidden("Only owners and admins manage contractual instruments.")
    org = inst.organisation
    inst.delete()
    messages.success(request, "Instrument deleted.")
    return redirect(reverse("reports:instruments") + f"?org={org.uuid}")


def _statement_response(facts: dict[str, Any], ext: str, name: str) -> HttpResponse:
    if ext == "md":
        return HttpResponse(
            statements.to_markdown(facts),
            content_type="text/markdown; charset=utf-8",
            headers={"Content-Disposition": f'inline; filename="{name}.md"'},
        )
    return HttpResponse(
        statements.to_latex(facts),
        content_type="application/x-tex; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="{name}.tex"'},
    )


@login_required
@require_GET
def run_statement_file(request: HttpRequest, run_id: str, ext: str) -> HttpResponse:
    """A run's carbon statement (``statements.run_statement``) as Markdown or LaTeX."""
    run = get_or_404(
        Run.objects.visible_to(Project.objects.for_user(_user(request))).select_related(
            "factor", "project", "experiment"
        ),
        run_id,
    )
    return _statement_response(
        statements.run_statement(run), ext, f"carbon-statement-run-{run.uuid}"
    )


@login_required
@require_GET
def experiment_statement_file(request: HttpRequest, experiment_id: str, ext: str) -> HttpResponse:
    """An experiment's carbon statement (``statements.experiment_statement``), md or tex."""
    exp = get_or_404(
        Experiment.objects.filter(
            project__in=Project.objects.for_user(_user(request))
        ).select_related("project"),
        experiment_id,
    )
    return _statement_response(
        statements.experiment_statement(exp), ext, f"carbon-statement-experiment-{exp.uuid}"
    )
