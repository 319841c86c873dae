"""The shared parts of the OpenAPI document (drf-spectacular, served at ``/api/v1/schema/``).

- the two ways a key travels (:class:`BearerKeyScheme`, :class:`CodeCarbonTokenScheme`);
- the error answers, ``{"error", "message", "fields"?}`` (``api.errors``): the ones every
  operation can give are added by :func:`shared_parts`, the rest by ``errors(...)`` in a
  view's ``@extend_schema``;
- the CodeCarbon bodies, generated from the Structs of ``api.schema`` that check them;
- the shapes of the answers, written from ``api.serializers``' ``*_out`` functions and
  ``api.queries``; the schema-fuzzing test (``tests/fuzz``) checks every answer against
  them.

Imported by ``api.apps.ApiConfig.ready`` so that the schemes are registered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from api import schema
from api.errors import CODES
from api.models import USAGE_FIELDS, FactorBasis, Hosting, RunSource, RunStatus
from api.queries import SERIES_FIELDS

# --- how a key travels ------------------------------------------------------------------


class BearerKeyScheme(OpenApiAuthenticationExtension):
    """``Authorization: Bearer <key>`` (``api.auth.ApiKeyAuthentication``)."""

    target_class = "api.auth.ApiKeyAuthentication"
    name = "bearerKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A project API key: `ehi_...` (ingest: writes and reads its "
            "project) or `ehr_...` (read only).",
        }


class CodeCarbonTokenScheme(OpenApiAuthenticationExtension):
    """``x-api-token: <key>``, as the CodeCarbon client sends it."""

    target_class = "api.codecarbon.CodeCarbonTokenAuthentication"
    name = "codecarbonToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "x-api-token",
            "description": "An ingest key of the hub project (`ehi_...`), as CodeCarbon's "
            "api_key setting.",
        }


# --- errors -------------------------------------------------------------------------------


# The ``error`` of each status: ``api.errors.CODES``, and the 411 of
# ``emissions_hub.middleware.ChunkedBodyMiddleware``.
ERROR_CODES = {**CODES, 411: "length_required"}
# ``api.errors``: every error answer of the API has this body.
ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "enum": sorted({*ERROR_CODES.values(), "error"})},
        "message": {"type": "string", "description": "what a person can act on"},
        "fields": {"type": "object", "description": "what is wrong, per field or item"},
    },
    "required": ["error", "message"],
}

# When each answer is given (api/errors.py, api/auth.py, emissions_hub/middleware.py).
WHY = {
    400: "Invalid input (body, query or a NUL character in any text); nothing was stored.",
    401: "No key, or an unknown or revoked one.",
    403: "A read-only key (or a signed-in user) tried to write.",
    404: "Unknown, malformed or another organisation's id.",
    411: "A chunked body this server cannot read (only gunicorn de-chunks): send Content-Length.",
    413: "The body is over the hub's limit (MAX_BODY_BYTES).",
    415: "The body's Content-Type is not one the endpoint reads.",
    429: "Too many requests; retry after Retry-After seconds.",
    503: "The database is unreachable or busy; retry after Retry-After seconds.",
}


def _error(code: int) -> dict[str, Any]:
    """The body of an error answer with that status: its ``error`` is ``ERROR_CODES[code]``."""
    return {
        "allOf": [{"$ref": "#/components/schemas/Error"}],
        "properties": {"error": {"const": ERROR_CODES[code]}},
    }


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The error answers ``codes``, for an ``@extend_schema(responses=...)``."""
    return {code: OpenApiResponse(_error(code), description=WHY[code]) for code in codes}


# The CodeCarbon bodies, from the Structs that check them (as ``api.schema`` documents the
# measurement batch and the emission).
(CODECARBON_RUN_BODY, CODECARBON_EXPERIMENT_BODY), STRUCTS = msgspec.json.schema_components(
    [schema.CodeCarbonRun, schema.CodeCarbonExperiment],
    ref_template="#/components/schemas/{name}",
)


def shared_parts(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the components above, and the error answers
    that follow from where an operation is, not what it does: every ``/api/`` request can
    be refused (400, 401, 429, 503), every POST can be forbidden to the key, unreadable or
    too large (403, 411, 413), every id in a path can be unknown (404), and every CodeCarbon
    call needs an ingest key (403)."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(
        {"Error": ERROR_SCHEMA, **STRUCTS}
    )
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            codes = {400, 401, 429, 503}
            if method == "post" or path.startswith("/api/codecarbon/"):
                codes.add(403)
            if method == "post":
                codes |= {411, 413}
            if "{" in path:
                codes.add(404)
            responses = operation.setdefault("responses", {})
            for code in sorted(codes):
                responses.setdefault(
                    str(code),
                    {
                        "description": WHY[code],
                        "content": {"application/json": {"schema": _error(code)}},
                    },
                )
    return result


# --- answers ------------------------------------------------------------------------------

Fields = dict[str, serializers.Field[Any, Any, Any, Any]]


def _shape(
    name: str, fields: Mapping[str, serializers.Field[Any, Any, Any, Any]]
) -> type[serializers.Serializer[Any]]:
    """The serializer that documents an answer: the component ``name`` of the document."""
    return type(f"{name}Serializer", (serializers.Serializer,), dict(fields))


def _text(nullable: bool = False) -> serializers.CharField:
    return serializers.CharField(allow_null=nullable, allow_blank=True)


def _number(nullable: bool = False) -> serializers.FloatField:
    return serializers.FloatField(allow_null=nullable)


def _usage() -> Fields:
    """The sums of ``UsageHour`` quantities (``api.queries.usage_totals``)."""
    return {
        name: serializers.IntegerField() if name.endswith("_count") else _number()
        for name in USAGE_FIELDS
    }


def _totals() -> Fields:
    return {
        **_usage(),
        "run_count": serializers.IntegerField(),
        "estimated_energy_kwh": _number(),
        "measured_share": _number(),
        "intensity_g_per_kwh": _number(nullable=True),
    }


def _series_point(**extra: serializers.Field[Any, Any, Any, Any]) -> Any:
    fields: Fields = {
        name: serializers.IntegerField() if name.endswith("_count") else _number()
        for name in SERIES_FIELDS
    }
    return {
        "t": serializers.DateTimeField(),
        **fields,
        "bucket_s": _number(),
        "power_w": _number(),
        **extra,
    }


Factor = _shape(
    "Factor",
    {
        "dataset": _text(),
        "zone": _text(),
        "g_per_kwh": _number(),
        "year": serializers.IntegerField(),
        "source": _text(),
        "licence": _text(),
        "url": _text(),
        "fallback": serializers.BooleanField(),
        "basis": serializers.ChoiceField(choices=FactorBasis.choices),
        "derived": serializers.BooleanField(),
        "note": _text(),
    },
)

_RUN_NUMBERS = (
    "pue",
    "intensity_g_per_kwh",
    "energy_kwh",
    "facility_energy_kwh",
    "cpu_energy_kwh",
    "gpu_energy_kwh",
    "ram_energy_kwh",
    "measured_energy_kwh",
    "estimated_energy_kwh",
    "emissions_kg",
    "gpu_hours",
    "duration_s",
)

# ``api.serializers.run_out``.
Run = _shape(
    "Run",
    {
        "id": serializers.UUIDField(),
        "run_key": _text(),
        "name": _text(),
        "status": serializers.ChoiceField(choices=RunStatus.choices),
        "source": serializers.ChoiceField(choices=RunSource.choices),
        "experiment": _text(),
        "experiment_id": serializers.UUIDField(),
        "project_id": serializers.UUIDField(),
        "started_at": serializers.DateTimeField(),
        "ended_at": serializers.DateTimeField(allow_null=True),
        "last_seen_at": serializers.DateTimeField(),
        "zone": _text(),
        "zone_label": _text(),
        "location_known": serializers.BooleanField(),
        **{name: _text(nullable=True) for name in ("country", "region")},
        **{name: _text(nullable=True) for name in ("cloud_provider", "cloud_region")},
        **{name: _number() for name in _RUN_NUMBERS},
        "factor": Factor(),
        "client_emissions_kg": _number(nullable=True),
        "measurement_count": serializers.IntegerField(),
        **{name: serializers.DictField() for name in ("hardware", "software", "params")},
        "metrics": serializers.DictField(),
        "tags": serializers.ListField(),
        "node_count": serializers.IntegerField(),
        "rank_count": serializers.IntegerField(),
        "epochs_total": serializers.IntegerField(allow_null=True),
        "epochs_done": serializers.IntegerField(allow_null=True),
        "predicted_energy_kwh": _number(nullable=True),
        "predicted_emissions_kg": _number(nullable=True),
        "url": _text(),
    },
)

RunPage = _shape(
    "RunPage",
    {
        "count": serializers.IntegerField(),
        "next": _text(nullable=True),
        "previous": _text(nullable=True),
        "results": Run(many=True),
    },
)

MeasurementsAnswer = _shape(
    "MeasurementsAnswer",
    {
        "accepted": serializers.IntegerField(help_text="measurements stored now"),
        "duplicates": serializers.IntegerField(help_text="already held (a resend)"),
        "run": Run(),
    },
)

_RUN_POINT = {
    "t": _number(),
    "t_end": _number(),
    **{f"{part}power_w": _number() for part in ("cpu_", "gpu_", "ram_", "")},
    "energy_kwh_cum": _number(),
    "emissions_kg_cum": _number(),
}
RunSeries = _shape(
    "RunSeries",
    {
        "run": Run(),
        "bucket_s": _number(),
        "points": _shape("RunPoint", _RUN_POINT)(many=True),
        "ranks": serializers.DictField(
            child=_shape("RankPoint", {"t": _number(), "t_end": _number(), "power_w": _number()})(
                many=True
            ),
            help_text="per rank ('node/rank N') when the run has several",
        ),
    },
)


def _project() -> Fields:
    """``api.serializers.project_out``."""
    return {
        "id": serializers.UUIDField(),
        "name": _text(),
        "organisation_id": serializers.UUIDField(),
        "organisation": _text(),
        "basis": serializers.ChoiceField(choices=FactorBasis.choices),
        "description": _text(),
        **{name: _text(nullable=True) for name in ("country", "region")},
        **{name: _text(nullable=True) for name in ("cloud_provider", "cloud_region")},
        "pue": _number(nullable=True),
        "hosting": serializers.ChoiceField(choices=Hosting.choices),
    }


Project = _shape("Project", _project())
ProjectList = _shape("ProjectList", {"results": Project(many=True)})
ProjectTotals = _shape("ProjectTotals", {**_project(), **_totals()})
ProjectSummary = _shape(
    "ProjectSummary",
    {
        "project_id": serializers.UUIDField(),
        "start": serializers.DateTimeField(allow_null=True),
        "end": serializers.DateTimeField(allow_null=True),
        "basis": serializers.ChoiceField(choices=FactorBasis.choices),
        **_totals(),
        "by_zone": _shape(
            "ZoneUsage",
            {"zone": _text(), "cloud_provider": _text(), **_usage()},
        )(many=True),
    },
)
ProjectSeries = _shape(
    "ProjectSeries",
    {
        "project_id": serializers.UUIDField(),
        "bucket": _text(),
        "basis": serializers.ChoiceField(choices=FactorBasis.choices),
        "points": _shape("SeriesPoint", _series_point())(many=True),
    },
)


def _organisation() -> Fields:
    """``api.serializers.organisation_out``."""
    return {
        "id": serializers.UUIDField(),
        "name": _text(),
        "basis": serializers.ChoiceField(choices=FactorBasis.choices),
    }


Organisation = _shape("Organisation", _organisation())
OrganisationList = _shape("OrganisationList", {"results": Organisation(many=True)})
OrganisationTotals = _shape(
    "OrganisationTotals",
    {
        **_organisation(),
        **_totals(),
        "by_project": _shape(
            "ProjectUsage",
            {"project_id": serializers.UUIDField(), "project": _text(), **_usage()},
        )(many=True),
    },
)
OrganisationSeries = _shape(
    "OrganisationSeries",
    {
        "organisation_id": serializers.UUIDField(),
        "bucket": _text(),
        "basis": serializers.ChoiceField(choices=FactorBasis.choices),
        "points": _shape("ProjectSeriesPoint", _series_point(project=_text()))(many=True),
    },
)


def _experiment() -> Fields:
    """``api.serializers.experiment_out``."""
    return {
        "id": serializers.UUIDField(),
        "name": _text(),
        "project_id": serializers.UUIDField(),
        "description": _text(),
        "created": serializers.DateTimeField(),
    }


Experiment = _shape("Experiment", _experiment())
ExperimentList = _shape("ExperimentList", {"results": Experiment(many=True)})
# ``api.queries.run_totals`` over the experiment's runs.
ExperimentTotals = _shape(
    "ExperimentTotals",
    {
        **_experiment(),
        "basis": serializers.ChoiceField(choices=FactorBasis.choices),
        **{name: _number() for name in ("energy_kwh", "emissions_kg", "gpu_hours")},
        "measured_energy_kwh": _number(),
        "measurement_count": serializers.IntegerField(),
        "run_count": serializers.IntegerField(),
        "runs_by_status": serializers.DictField(child=serializers.IntegerField()),
    },
)

# --- the CodeCarbon API's answers (api.codecarbon) ------------------------------------------

CodeCarbonOrganization = _shape(
    "CodeCarbonOrganization",
    {"id": serializers.UUIDField(), "name": _text(), "description": _text()},
)
CodeCarbonProject = _shape(
    "CodeCarbonProject",
    {
        "id": serializers.UUIDField(),
        "name": _text(),
        "description": _text(),
        "organization_id": serializers.UUIDField(),
    },
)
CodeCarbonExperiment = _shape(
    "CodeCarbonExperiment",
    {
        "id": serializers.UUIDField(),
        "timestamp": serializers.DateTimeField(),
        "name": _text(),
        "description": _text(),
        "on_cloud": serializers.BooleanField(),
        "project_id": serializers.UUIDField(),
        "country_name": _text(nullable=True),
        "country_iso_code": _text(nullable=True),
        "region": _text(nullable=True),
        "cloud_provider": _text(nullable=True),
        "cloud_region": _text(nullable=True),
        "location_note": serializers.CharField(
            required=False, help_text="why the location sent was not used"
        ),
    },
)
CodeCarbonAuthCheck = _shape(
    "CodeCarbonAuthCheck",
    {"key": _text(), "scope": _text(), "project": CodeCarbonProject()},
)
CodeCarbonRunCreated = _shape(
    "CodeCarbonRunCreated",
    {
        "id": serializers.UUIDField(),
        "experiment_id": serializers.UUIDField(),
        "timestamp": serializers.DateTimeField(),
        "zone": _text(),
        "location_known": serializers.BooleanField(),
    },
)
CodeCarbonEmissionStored = _shape(
    "CodeCarbonEmissionStored",
    {
        "run_id": serializers.UUIDField(),
        "accepted": serializers.IntegerField(),
        "duplicates": serializers.IntegerField(),
    },
)
