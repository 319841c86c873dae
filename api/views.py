"""REST API v1: explicit views, input serializers with bounds, JSON errors.

Every read goes through the request's view (``api.auth.visible_projects`` /
``visible_organisations``, and :func:`visible_runs` / :func:`visible_experiments` built
on them); one object is found by its public id with ``api.access.get_or_404``, so another
organisation's object, a missing one and a malformed id all answer 404.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api import ingest, openapi, queries, schema
from api.access import get_or_404, public_id
from api.auth import require_ingest_key, visible_organisations, visible_projects
from api.models import Experiment, Project, Run
from api.precision import QuantityJSONRenderer
from api.serializers import (
    ExperimentCreateSerializer,
    FinishSerializer,
    PredictionSerializer,
    RangeSerializer,
    RunCreateSerializer,
    experiment_out,
    organisation_out,
    project_out,
    run_out,
)


class HubView(APIView):
    """Every v1 view: its answers have their quantities rounded (``api.precision``)."""

    renderer_classes = [QuantityJSONRenderer]


def base_url(request: Request) -> str:
    """The hub's external URL: SITE_URL when it is set, else the request's host."""
    if settings.SITE_URL_FROM_ENV or request is None:
        return str(settings.SITE_URL)
    return request.build_absolute_uri("/").rstrip("/")


def visible_runs(request: Request) -> QuerySet[Run]:
    """Runs of the projects the request may read (``api.auth.visible_projects``)."""
    return Run.objects.visible_to(visible_projects(request)).select_related(
        "factor", "experiment", "project__organisation"
    )


def visible_experiments(request: Request) -> QuerySet[Experiment]:
    """Experiments of the projects the request may read."""
    return Experiment.objects.filter(project__in=visible_projects(request))


def _range(request: Request) -> dict[str, Any]:
    ser = RangeSerializer(data=request.query_params)
    ser.is_valid(raise_exception=True)
    return dict(ser.validated_data)


RANGE_PARAMS = [
    OpenApiParameter("start", str, description="ISO 8601, inclusive"),
    OpenApiParameter("end", str, description="ISO 8601, exclusive"),
    OpenApiParameter("bucket", str, enum=["hour", "day", "week", "month"]),
]


class RunsView(HubView):
    @extend_schema(
        summary="List runs, newest first",
        operation_id="v1_runs_list",
        responses={200: openapi.RunPage, **openapi.errors(404)},
        parameters=[
            OpenApiParameter("experiment", str, description="experiment name"),
            OpenApiParameter("project", str, description="project id"),
            OpenApiParameter("status", str),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
    )
    def get(self, request: Request) -> Response:
        runs = visible_runs(request).order_by("-started_at", "-id")
        params = request.query_params
        if params.get("experiment"):
            runs = runs.filter(experiment__name=params["experiment"])
        if params.get("project"):
            runs = runs.filter(project__uuid=public_id(params["project"]))
        if params.get("status"):
            runs = runs.filter(status=params["status"])
        paginator = LimitOffsetPagination()
        paginator.default_limit = 100
        paginator.max_limit = 1000
        page = paginator.paginate_queryset(runs, request, view=self) or []
        url = base_url(request)
        return paginator.get_paginated_response([run_out(r, url) for r in page])

    @extend_schema(
        summary="Create or get a run by its client run key (idempotent)",
        request=RunCreateSerializer,
        responses={200: openapi.Run, 201: openapi.Run, **openapi.errors(415)},
    )
    def post(self, request: Request) -> Response:
        key = require_ingest_key(request)
        ser = RunCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        run, created = ingest.get_or_create_run(key.project, dict(ser.validated_data))
        return Response(run_out(run, base_url(request)), status=201 if created else 200)


class RunDetailView(HubView):
    @extend_schema(summary="One run with its totals", responses=openapi.Run)
    def get(self, request: Request, run_id: str) -> Response:
        run = get_or_404(visible_runs(request), run_id)
        return Response(run_out(run, base_url(request)))


class RunMeasurementsView(HubView):
    @extend_schema(
        summary="Post a batch of up to 1,000 measurements (idempotent by uuid)",
        description="The body is checked against the measurement schema (`MeasurementIn`): "
        "any bad item refuses the whole batch, naming each bad index and field.",
        request={"application/json": schema.BATCH_SCHEMA},
        responses=openapi.MeasurementsAnswer,
    )
    def post(self, request: Request, run_id: str) -> Response:
        # Parse (the body straight into typed measurements), check, store: one statement
        # finds and locks the key's run, stores the batch and returns the new totals.
        key = require_ingest_key(request)
        run_uuid = public_id(run_id)
        batch = schema.decode_batch(request.body)
        stored = ingest.store(batch, project=key.project, run_uuid=run_uuid)
        if stored is None:
            raise Http404
        result, run = stored
        return Response(
            {
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "run": run_out(run, base_url(request)),
            }
        )


class RunFinishView(HubView):
    @extend_schema(
        summary="Finish a run with its status and final metrics",
        request=FinishSerializer,
        responses={200: openapi.Run, **openapi.errors(415)},
    )
    def post(self, request: Request, run_id: str) -> Response:
        key = require_ingest_key(request)
        run = get_or_404(visible_runs(request).filter(project=key.project), run_id)
        ser = FinishSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = ser.validated_data
        run = run.finish(data["status"], data.get("metrics"), data.get("ended_at"))
        return Response(run_out(run, base_url(request)))


class RunPredictionView(HubView):
    @extend_schema(
        summary="Store the client's prediction of the run's total energy",
        request=PredictionSerializer,
        responses={200: openapi.Run, **openapi.errors(415)},
    )
    def post(self, request: Request, run_id: str) -> Response:
        key = require_ingest_key(request)
        run = get_or_404(visible_runs(request).filter(project=key.project), run_id)
        ser = PredictionSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        run = run.record_prediction(d["epochs_done"], d["epochs_total"], d["predicted_energy_kwh"])
        return Response(run_out(run, base_url(request)))


class RunSeriesView(HubView):
    @extend_schema(
        summary="Power per component and cumulative energy/emissions over time",
        responses=openapi.RunSeries,
    )
    def get(self, request: Request, run_id: str) -> Response:
        run = get_or_404(visible_runs(request), run_id)
        series = queries.run_series(run)
        return Response({"run": run_out(run, base_url(request)), **series})


class ProjectsView(HubView):
    @extend_schema(
        summary="Projects this key or user may see",
        operation_id="v1_projects_list",
        responses=openapi.ProjectList,
    )
    def get(self, request: Request) -> Response:
        projects = visible_projects(request).select_related("organisation")
        return Response({"results": [project_out(p) for p in projects]})


class ProjectDetailView(HubView):
    @extend_schema(summary="One project with its all-time totals", responses=openapi.ProjectTotals)
    def get(self, request: Request, project_id: str) -> Response:
        project = get_or_404(visible_projects(request).select_related("organisation"), project_id)
        totals = queries.usage_totals(Project.objects.filter(pk=project.pk))
        return Response(project_out(project, totals))


class ProjectSummaryView(HubView):
    @extend_schema(
        summary="Totals of a project over a period",
        parameters=RANGE_PARAMS[:2],
        responses=openapi.ProjectSummary,
    )
    def get(self, request: Request, project_id: str) -> Response:
        project = get_or_404(visible_projects(request).select_related("organisation"), project_id)
        rng = _range(request)
        qs = Project.objects.filter(pk=project.pk)
        totals = queries.usage_totals(qs, rng.get("start"), rng.get("end"))
        totals["by_zone"] = queries.usage_breakdown(
            qs, rng.get("start"), rng.get("end"), "zone", "cloud_provider"
        )
        return Response(
            {
                "project_id": str(project.uuid),
                "start": rng.get("start"),
                "end": rng.get("end"),
                # Every emission figure of the answer is on the organisation's factor basis.
                "basis": project.organisation.basis,
                **totals,
            }
        )


class ProjectSeriesView(HubView):
    @extend_schema(
        summary="Energy and emissions of a project per hour, day, week or month",
        parameters=RANGE_PARAMS,
        responses=openapi.ProjectSeries,
    )
    def get(self, request: Request, project_id: str) -> Response:
        project = get_or_404(visible_projects(request).select_related("organisation"), project_id)
        rng = _range(request)
        series = queries.usage_series(
            Project.objects.filter(pk=project.pk),
            rng.get("start"),
            rng.get("end"),
            rng["bucket"],
            rounded=True,
        )
        return Response(
            {
                "project_id": str(project.uuid),
                "bucket": rng["bucket"],
                "basis": project.organisation.basis,
                "points": series,
            }
        )


class OrganisationsView(HubView):
    @extend_schema(
        summary="Organisations this key or user may see",
        operation_id="v1_organisations_list",
        responses=openapi.OrganisationList,
    )
    def get(self, request: Request) -> Response:
        return Response({"results": [organisation_out(o) for o in visible_organisations(request)]})


class OrganisationDetailView(HubView):
    @extend_schema(
        summary="One organisation with totals over a period",
        parameters=RANGE_PARAMS[:2],
        responses=openapi.OrganisationTotals,
    )
    def get(self, request: Request, org_id: str) -> Response:
        org = get_or_404(visible_organisations(request), org_id)
        rng = _range(request)
        # A key sees only its own project's share of the organisation.
        projects = visible_projects(request).filter(organisation=org)
        totals = queries.usage_totals(projects, rng.get("start"), rng.get("end"))
        totals["by_project"] = queries.usage_breakdown(
            projects, rng.get("start"), rng.get("end"), "project__uuid", "project__name"
        )
        for row in totals["by_project"]:
            row["project_id"] = str(row.pop("project__uuid"))
            row["project"] = row.pop("project__name")
        return Response(organisation_out(org, totals))


class OrganisationSeriesView(HubView):
    @extend_schema(
        summary="Energy and emissions of an organisation over time",
        parameters=RANGE_PARAMS,
        responses=openapi.OrganisationSeries,
    )
    def get(self, request: Request, org_id: str) -> Response:
        org = get_or_404(visible_organisations(request), org_id)
        rng = _range(request)
        projects = visible_projects(request).filter(organisation=org)
        series = queries.usage_series(
            projects,
            rng.get("start"),
            rng.get("end"),
            rng["bucket"],
            by="project__name",
            rounded=True,
        )
        for p in series:
            p["project"] = p.pop("project__name")
        return Response(
            {
                "organisation_id": str(org.uuid),
                "bucket": rng["bucket"],
                "basis": org.basis,
                "points": series,
            }
        )


class ExperimentsView(HubView):
    @extend_schema(
        summary="Experiments, optionally of one project",
        operation_id="v1_experiments_list",
        parameters=[OpenApiParameter("project", str)],
        responses={200: openapi.ExperimentList, **openapi.errors(404)},
    )
    def get(self, request: Request) -> Response:
        exps = visible_experiments(request).select_related("project")
        if request.query_params.get("project"):
            exps = exps.filter(project__uuid=public_id(request.query_params["project"]))
        return Response({"results": [experiment_out(e) for e in exps.order_by("name")]})

    @extend_schema(
        summary="Create (or get) an experiment by name in the key's project",
        request=ExperimentCreateSerializer,
        responses={200: openapi.Experiment, 201: openapi.Experiment, **openapi.errors(415)},
    )
    def post(self, request: Request) -> Response:
        key = require_ingest_key(request)
        ser = ExperimentCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        before = Experiment.objects.filter(
            project=key.project, name=ser.validated_data["name"]
        ).exists()
        exp = ingest.resolve_experiment(key.project, ser.validated_data["name"])
        if ser.validated_data.get("description") and not exp.description:
            exp.description = ser.validated_data["description"]
            exp.save(update_fields=["description"])
        return Response(experiment_out(exp), status=200 if before else 201)


class ExperimentDetailView(HubView):
    @extend_schema(
        summary="One experiment with the totals of all its runs (failed and lost included)",
        responses=openapi.ExperimentTotals,
    )
    def get(self, request: Request, experiment_id: str) -> Response:
        exp = get_or_404(
            visible_experiments(request).select_related("project__organisation"), experiment_id
        )
        return Response(experiment_out(exp, queries.run_totals(Run.objects.filter(experiment=exp))))
