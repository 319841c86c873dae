"""A drop-in target for the unmodified CodeCarbon client (3.x) in API mode.

The client creates a run (``POST /runs``, expects 201 and ``id``) and then posts one delta
per interval (``POST /emissions``, expects 201); see
``shared/reference/codecarbon-protocol.md``. It authenticates with ``x-api-token``, which
here carries a hub project key with the ingest scope. Each interval becomes a hub
measurement with method ``imported``; the hub computes its own location-based emissions
and keeps CodeCarbon's figure beside it as client-reported.

CodeCarbon multiplies its energies (and, since 3.3.1, its powers) by its ``pue`` setting,
default 1, but its API calls do not say which PUE that was. The hub stores IT energy and
applies its own PUE: a ``pue`` in ``POST /runs`` or ``POST /emissions`` (not sent by the
unmodified client; a wrapper or a later client may) is divided out, and without one the
energies are taken as sent, IT energy under CodeCarbon's default. Each run records which
(``params["source_pue"]``).

The management calls of the CodeCarbon CLI (organisations, projects, experiments, API
tokens) are answered as far as a key bound to one project can: with the key's own
organisation and project, and a JSON refusal for what a key may not do. An id in a path
is looked up among the key's own project (``api.access.get_or_404``): anything else,
another organisation's object or an id that is not a uuid, is a 404 like a missing one.
"""

from __future__ import annotations

import json
import uuid as uuidlib
from datetime import UTC, timedelta
from typing import Any, NoReturn

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api import ingest, openapi, schema
from api.access import get_or_404, public_id
from api.auth import ApiKeyAuthentication, KeyPrincipal, authenticate_key, require_ingest_key
from api.importers.common import (
    SourcePue,
    codecarbon_pue,
    derived_uuid,
    usable_location,
)
from api.models import ApiKey, Experiment, Organisation, Project, Run, RunSource
from api.parsers import StrictJSONParser
from api.precision import QuantityJSONRenderer

# CodeCarbon's built-in experiment id, used when a team configures none.
DEFAULT_EXPERIMENT_ID = "5b0fa12a-3dd7-45bb-9766-cc326314d9f1"

HOW_TO = (
    "Set api_key to an ingest key of your hub project (it starts with 'ehi_'; create one on the "
    "project's page), e.g. in .codecarbon.config: [codecarbon] api_endpoint = <hub>/api/codecarbon "
    "api_key = ehi_... , or CODECARBON_API_KEY=ehi_... in the environment."
)


class CodeCarbonTokenAuthentication(BaseAuthentication):
    """``x-api-token: <hub ingest key>``, as sent by the CodeCarbon client."""

    def authenticate(self, request: Request) -> tuple[KeyPrincipal, ApiKey] | None:
        token = request.META.get("HTTP_X_API_TOKEN")
        if token is None:
            return None  # perhaps a Bearer key; otherwise the view answers 401 with HOW_TO
        token = token.strip()
        if not token or token == "api_key":
            raise exceptions.AuthenticationFailed(
                "The CodeCarbon client sent its default api_key, not a hub key. " + HOW_TO
            )
        try:
            return authenticate_key(token)
        except exceptions.AuthenticationFailed:
            raise exceptions.AuthenticationFailed(
                "The x-api-token is not a valid hub API key (unknown or revoked). " + HOW_TO
            ) from None

    def authenticate_header(self, request: Request) -> str:
        # A value here makes DRF answer 401, not 403, when the token is missing or wrong.
        return 'x-api-token realm="codecarbon"'


class CodeCarbonView(APIView):
    authentication_classes = [CodeCarbonTokenAuthentication, ApiKeyAuthentication]
    # Quantities in answers are rounded like the rest of the API (api.precision).
    renderer_classes = [QuantityJSONRenderer]
    # CodeCarbon sends JSON; a form or a text body is refused (see _body).
    parser_classes = [StrictJSONParser]

    def permission_denied(
        self, request: Request, message: str | None = None, code: str | None = None
    ) -> NoReturn:
        if request.authenticators and not request.successful_authenticator:
            raise exceptions.NotAuthenticated("No x-api-token header. " + HOW_TO)
        super().permission_denied(request, message, code)

    def key(self, request: Request) -> ApiKey:
        key = require_ingest_key(request)
        return key


# --- shapes CodeCarbon reads --------------------------------------------------------------


def codecarbon_organization(org: Organisation) -> dict[str, Any]:
    return {"id": str(org.uuid), "name": org.name, "description": ""}


def codecarbon_project(project: Project) -> dict[str, Any]:
    return {
        "id": str(project.uuid),
        "name": project.name,
        "description": project.description,
        "organization_id": str(project.organisation.uuid),
    }


def codecarbon_experiment(exp: Experiment) -> dict[str, Any]:
    return {
        "id": str(exp.uuid),
        "timestamp": exp.created.isoformat(),
        "name": exp.name,
        "description": exp.description,
        "on_cloud": bool(exp.cloud_provider),
        "project_id": str(exp.project.uuid),
        "country_name": None,
        "country_iso_code": exp.country or None,
        "region": exp.region or None,
        "cloud_provider": exp.cloud_provider or None,
        "cloud_region": exp.cloud_region or None,
    }


def _same(value: str, obj: Organisation | Project) -> bool:
    """Whether a public id in the URL or body is the key's own organisation or project (a
    key sees nothing else); an id that is not a uuid is not."""
    try:
        return public_id(value) == obj.uuid
    except Http404:
        return False


def _body(request: Request) -> dict[str, Any]:
    """The JSON object a CodeCarbon call sends; no body, a form or a text is a 400."""
    try:
        data = request.data
    except exceptions.UnsupportedMediaType:
        data = None
    if request.stream is None or not isinstance(data, dict):
        raise schema.Invalid("The body must be a JSON object (Content-Type: application/json).")
    return dict(data)


def _experiment_for(project: Project, experiment_id: Any) -> Experiment:
    """The hub experiment for CodeCarbon's experiment_id: its default id means the
    project's default experiment; a hub experiment id must belong to the key's project."""
    raw = str(experiment_id or DEFAULT_EXPERIMENT_ID).strip().lower()
    if raw == DEFAULT_EXPERIMENT_ID:
        return project.default_experiment()
    try:
        wanted = uuidlib.UUID(raw)
    except ValueError:
        wanted = None
    exp = Experiment.objects.filter(project=project, uuid=wanted).first() if wanted else None
    if exp is None:
        raise schema.Invalid(
            f"experiment_id {experiment_id!r} is not an experiment of project '{project.name}'. Leave "
            f"experiment_id unset (CodeCarbon's default {DEFAULT_EXPERIMENT_ID} means the project's "
            "default experiment), or use the id of one of the project's experiments "
            "(GET /projects/<project id>/experiments, or POST /experiments to create one).",
            {"experiment_id": "unknown in this project"},
        )
    return exp


# Why energies are taken as sent when no PUE came with them.
PUE_NOT_SENT = (
    "not sent: CodeCarbon's API calls do not carry the tracker's pue; taken as its default, 1"
)


def _source_pue(run: Run, pue: float | None) -> SourcePue:
    """The PUE CodeCarbon applied to an interval of this run: the interval's own ``pue``,
    else the one its ``POST /runs`` sent, else none (CodeCarbon's default, 1)."""
    version = run.software.get("codecarbon_version") if isinstance(run.software, dict) else None
    if pue is not None:
        return codecarbon_pue(pue, version, "sent with the interval")
    recorded = run.params.get("codecarbon_pue") if isinstance(run.params, dict) else None
    if isinstance(recorded, int | float) and not isinstance(recorded, bool) and recorded > 0:
        return codecarbon_pue(float(recorded), version, "sent with POST /runs")
    return codecarbon_pue(1.0, version, PUE_NOT_SENT)


def _remember_pue(run: Run, source: SourcePue) -> None:
    """Record on the run a PUE an interval sent, when it is not the one recorded."""
    params = dict(run.params) if isinstance(run.params, dict) else {}
    if params.get("codecarbon_pue") == source.pue:
        return
    params["codecarbon_pue"] = source.pue
    params["source_pue"] = source.record()
    Run.objects.filter(pk=run.pk).update(params=params)
    run.params = params


# --- ingestion ------------------------------------------------------------------------------


class CodeCarbonRunsView(CodeCarbonView):
    @extend_schema(
        summary="CodeCarbon: create a run (answers 201 and its id)",
        request={"application/json": openapi.CODECARBON_RUN_BODY},
        responses={201: openapi.CodeCarbonRunCreated},
    )
    def post(self, request: Request) -> Response:
        key = self.key(request)
        project = key.project
        body = _body(request)
        # The fields kept are checked against the declared schema (api.schema.CodeCarbonRun).
        sent = {k: v for k, v in body.items() if not (k == "timestamp" and not v)}
        checked, _ = schema.decode_object(sent, schema.CodeCarbonRun, "invalid run")
        started = schema.as_utc(checked.timestamp) if checked.timestamp else None
        if started is not None and (problem := schema.time_problem(started)):
            raise schema.Invalid("invalid run", {"timestamp": problem})
        experiment = _experiment_for(project, checked.experiment_id)
        hardware: dict[str, Any] = {}
        for name in ("cpu_model", "gpu_model"):
            if getattr(checked, name):
                hardware[name] = getattr(checked, name)[:200]
        for name in ("cpu_count", "gpu_count"):
            value = getattr(checked, name)
            if value is not None:
                hardware[name] = int(value)
        if checked.ram_total_size is not None:
            hardware["ram_gb"] = checked.ram_total_size
        pue = checked.pue
        software = {
            k: getattr(checked, k)[:500]
            for k in ("os", "python_version", "codecarbon_version", "tracking_mode")
            if getattr(checked, k)
        }
        params: dict[str, Any] = {
            "codecarbon_experiment_id": checked.experiment_id or DEFAULT_EXPERIMENT_ID
        }
        for k in ("longitude", "latitude"):
            if getattr(checked, k) is not None:
                params[k] = getattr(checked, k)
        if pue is not None:
            params["codecarbon_pue"] = pue
        source = codecarbon_pue(
            1.0 if pue is None else pue,
            software.get("codecarbon_version"),
            PUE_NOT_SENT if pue is None else "sent with POST /runs",
        )
        params["source_pue"] = source.record()
        # CodeCarbon sends only the cloud provider and region (usually null), never a
        # country: use them when the hub knows them, else the experiment's or project's
        # location decides (api.ingest.placement_for).
        where = usable_location(
            cloud_provider=(checked.provider or "")[:20],
            cloud_region=(checked.region or "")[:40],
        )
        if where.note:
            params["location_note"] = where.note
        data: dict[str, Any] = {
            "run_key": _run_key(project, body, started),
            "experiment": experiment.name,
            "hardware": hardware,
            "software": software,
            "params": params,
            "started_at": started or timezone.now(),
            "cloud_provider": where.cloud_provider,
            "cloud_region": where.cloud_region,
        }
        run, _ = ingest.get_or_create_run(project, data, source=RunSource.CODECARBON)
        return Response(
            {
                "id": str(run.uuid),
                "experiment_id": str(experiment.uuid),
                "timestamp": run.started_at.isoformat(),
                "zone": run.zone,
                "location_known": run.location_known,
            },
            status=201,
        )


# CodeCarbon 3.3.2 creates its API run from two threads at once at the first send, so one
# tracker posts /runs twice within milliseconds with the same body, and then splits its
# intervals between the two ids. Identical bodies (all but the timestamp) from one
# project within the same window are therefore one run: the run key is derived from the
# body and the window, and the previous window is checked for the straddling case.
RUN_WINDOW_S = 10


def _run_key(project: Project, body: dict[str, Any], started: Any) -> str:
    fingerprint = json.dumps(
        {k: v for k, v in body.items() if k != "timestamp"}, sort_keys=True, default=str
    )
    moment = started or timezone.now()
    bucket = int(moment.timestamp()) // RUN_WINDOW_S
    previous = f"codecarbon:{derived_uuid('codecarbon-run', project.uuid, fingerprint, bucket - 1)}"
    recent = (
        Run.objects.filter(project=project, run_key=previous)
        .values_list("started_at", flat=True)
        .first()
    )
    if recent is not None and abs((moment - recent).total_seconds()) < RUN_WINDOW_S:
        return previous
    return f"codecarbon:{derived_uuid('codecarbon-run', project.uuid, fingerprint, bucket)}"


class CodeCarbonEmissionsView(CodeCarbonView):
    @extend_schema(
        summary="CodeCarbon: one interval of a run (idempotent)",
        request={"application/json": schema.EMISSION_SCHEMA},
        responses={201: openapi.CodeCarbonEmissionStored, **openapi.errors(404)},
    )
    def post(self, request: Request) -> Response:
        key = self.key(request)
        # Parse and check against the declared schema (api.schema.CodeCarbonEmission).
        e, body = schema.decode_emission(request.body)
        run = ingest.find_run(key.project, e.run_id)
        if run is None:
            raise Http404
        source = _source_pue(run, e.pue)
        end, duration = e.timestamp, e.duration
        # Kept exactly as sent (CodeCarbon truncates to whole seconds): the interval ends at
        # the POST's timestamp and lasts `duration`.
        start = end - timedelta(seconds=duration)
        gpu_count = int(run.hardware.get("gpu_count") or 0) if isinstance(run.hardware, dict) else 0
        kg, kwh = e.emissions_sum, e.energy_consumed
        item: dict[str, Any] = {
            # CodeCarbon sends no id; one derived from the content makes a resend harmless.
            "uuid": derived_uuid(
                "codecarbon-api",
                run.uuid,
                # Parsed values, not the raw text: "Z" and "+00:00", or 10 and 10.0, are the
                # same interval and must give the same id.
                end.astimezone(UTC).isoformat(),
                duration,
                body.get("cpu_energy"),
                body.get("gpu_energy"),
                body.get("ram_energy"),
                body.get("energy_consumed"),
            ),
            "start": start,
            "end": end,
            "duration_s": float(duration),
            # IT power and energy: CodeCarbon's figures without the PUE it applied.
            "cpu_power_w": source.it_power(e.cpu_power),
            "gpu_power_w": source.it_power(e.gpu_power),
            "ram_power_w": source.it_power(e.ram_power),
            "cpu_utilization_pct": e.cpu_utilization_percent,
            "gpu_utilization_pct": e.gpu_utilization_percent,
            "ram_utilization_pct": e.ram_utilization_percent,
            # What CodeCarbon computed itself, kept as client-reported beside the hub's figure.
            "client_emissions_kg": kg,
            "client_intensity_g_per_kwh": kg / kwh * 1000.0 if kg is not None and kwh else None,
        }
        for comp in schema.COMPONENTS:
            energy = getattr(e, f"{comp}_energy")
            if energy is not None:
                # Checked (and refused with its field) as the measurement's energy.
                item[f"{comp}_energy_kwh"] = source.it_energy(energy)
                if energy > 0:
                    item[f"{comp}_method"] = "imported"
        item["gpu_count"] = max(gpu_count, 1) if "gpu_method" in item else 0
        result = ingest.ingest_measurements(run, [schema.measurement(item)])
        if e.pue is not None and result.accepted:
            _remember_pue(run, source)
        return Response(
            {"run_id": str(run.uuid), "accepted": result.accepted, "duplicates": result.duplicates},
            status=201,
        )


# --- what the CodeCarbon CLI asks -------------------------------------------------------------


class CodeCarbonAuthCheckView(CodeCarbonView):
    @extend_schema(
        summary="CodeCarbon CLI: the key's project", responses=openapi.CodeCarbonAuthCheck
    )
    def get(self, request: Request) -> Response:
        key = self.key(request)
        return Response(
            {"key": key.prefix, "scope": key.scope, "project": codecarbon_project(key.project)}
        )


class CodeCarbonOrganizationsView(CodeCarbonView):
    @extend_schema(
        summary="CodeCarbon CLI: the key's organisation",
        operation_id="codecarbon_organizations_list",
        responses=openapi.CodeCarbonOrganization(many=True),
    )
    def get(self, request: Request) -> Response:
        key = self.key(request)
        return Response([codecarbon_organization(key.project.organisation)])

    @extend_schema(
        summary="CodeCarbon CLI: 'create' the key's own organisation (any other is refused)",
        request=dict,
        responses={201: openapi.CodeCarbonOrganization},
    )
    def post(self, request: Request) -> Response:
        key = self.key(request)
        org = key.project.organisation
        if _body(request).get("name") == org.name:
            return Response(codecarbon_organization(org), status=201)
        raise exceptions.PermissionDenied(
            f"An API key cannot create organisations. This key belongs to organisation '{org.name}' "
            f"(id {org.uuid}); organisations are created by the hub's administrators."
        )


class CodeCarbonOrganizationDetailView(CodeCarbonView):
    @extend_schema(
        summary="CodeCarbon CLI: the key's organisation by id",
        responses=openapi.CodeCarbonOrganization,
    )
    def get(self, request: Request, org_id: str) -> Response:
        org = self.key(request).project.organisation
        if not _same(org_id, org):
            raise Http404
        return Response(codecarbon_organization(org))


class CodeCarbonOrganizationProjectsView(CodeCarbonView):
    @extend_schema(
        summary="CodeCarbon CLI: the key's project in its organisation",
        responses=openapi.CodeCarbonProject(many=True),
    )
    def get(self, request: Request, org_id: str) -> Response:
        project = self.key(request).project
        if not _same(org_id, project.organisation):
            raise Http404
        return Response([codecarbon_project(project)])


class CodeCarbonProjectsView(CodeCarbonView):
    @extend_schema(
        summary="CodeCarbon CLI: 'create' the key's own project (any other is refused)",
        request=dict,
        responses={201: openapi.CodeCarbonProject},
    )
    def post(self, request: Request) -> Response:
        project = self.key(request).project
        if _body(request).get("name") == project.name:
            return Response(codecarbon_project(project), status=201)
        raise exceptions.PermissionDenied(
            f"An API key cannot create projects. This key belongs to project '{project.name}' "
            f"(id {project.uuid}); create other projects in the hub's web interface, "
            "with a key for each."
        )


class CodeCarbonProjectDetailView(CodeCarbonView):
    @extend_schema(
        summary="CodeCarbon CLI: the key's project by id", responses=openapi.CodeCarbonProject
    )
    def get(self, request: Request, project_id: str) -> Response:
        project = self.key(request).project
        if not _same(project_id, project):
            raise Http404
        return Response(codecarbon_project(project))


class CodeCarbonProjectExperimentsView(CodeCarbonView):
    @extend_schema(
        summary="CodeCarbon CLI: the experiments of the key's project",
        responses=openapi.CodeCarbonExperiment(many=True),
    )
    def get(self, request: Request, project_id: str) -> Response:
        project = self.key(request).project
        if not _same(project_id, project):
            raise Http404
        exps = Experiment.objects.filter(project=project).select_related("project").order_by("name")
        return Response([codecarbon_experiment(e) for e in exps])


class CodeCarbonProjectTokensView(CodeCarbonView):
    @extend_schema(
        summary="CodeCarbon CLI: create an API key (always refused: keys are made in the hub)",
        request=dict,
        responses=openapi.errors(403),
    )
    def post(self, request: Request, project_id: str) -> Response:
        project = self.key(request).project
        raise exceptions.PermissionDenied(
            "An API key cannot create API keys. Create keys on the project's page in the hub "
            f"(project '{project.name}', id {project.uuid}); the key is shown once."
        )


class CodeCarbonExperimentsView(CodeCarbonView):
    @extend_schema(
        summary="CodeCarbon CLI: create an experiment (answers 201 and its id)",
        request={"application/json": openapi.CODECARBON_EXPERIMENT_BODY},
        responses={201: openapi.CodeCarbonExperiment},
    )
    def post(self, request: Request) -> Response:
        project = self.key(request).project
        body, _ = schema.decode_object(
            _body(request), schema.CodeCarbonExperiment, "invalid experiment"
        )
        if body.project_id and not _same(body.project_id, project):
            raise exceptions.PermissionDenied(
                f"project_id {body.project_id} is not this key's project '{project.name}' (id {project.uuid})."
            )
        name = body.name.strip()[:200]
        if not name:
            raise schema.Invalid("name is required", {"name": "is required"})
        on_cloud = bool(body.on_cloud)
        where = usable_location(
            country=(body.country_iso_code or "")[:3],
            region=(body.region or "")[:20],
            cloud_provider=(body.cloud_provider or "")[:20] if on_cloud else "",
            cloud_region=(body.cloud_region or "")[:40] if on_cloud else "",
        )
        exp = ingest.resolve_experiment(project, name)
        exp.description = exp.description or (body.description or "")[:2000]
        # The experiment's location is what runs posted to it are placed by, because the
        # CodeCarbon client never sends a country itself.
        # Only what the body says replaces a location already set (e.g. by an admin).
        if where.country or where.cloud_provider:
            exp.country = where.country
            exp.region = where.region
            exp.cloud_provider = where.cloud_provider
            exp.cloud_region = where.cloud_region
        exp.save(
            update_fields=["description", "country", "region", "cloud_provider", "cloud_region"]
        )
        out = codecarbon_experiment(exp)
        if where.note:
            out["location_note"] = where.note
        return Response(out, status=201)


class CodeCarbonExperimentDetailView(CodeCarbonView):
    @extend_schema(
        summary="CodeCarbon CLI: one experiment of the key's project",
        responses=openapi.CodeCarbonExperiment,
    )
    def get(self, request: Request, experiment_id: str) -> Response:
        project = self.key(request).project
        exp = get_or_404(
            Experiment.objects.filter(project=project).select_related("project"), experiment_id
        )
        return Response(codecarbon_experiment(exp))
