"""Upload pages (``/imports/``) and the API endpoint (``POST /api/v1/imports``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from drf_spectacular.utils import extend_schema
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.auth import require_ingest_key
from api.importers import FORMATS, ImportRefused, import_file
from api.models import ImportedFile, Membership, Project, Role
from api.models_imports import ImportFormat
from api.precision import QuantityJSONRenderer


def uploadable_projects(user: Any) -> QuerySet[Project]:
    """Projects of organisations where the user is at least a member (viewers only read)."""
    if not getattr(user, "is_authenticated", False):
        return Project.objects.none()
    roles = [Role.MEMBER, Role.ADMIN, Role.OWNER]
    orgs = Membership.objects.filter(user=user, role__in=roles).values("organisation_id")
    return Project.objects.filter(organisation_id__in=orgs).select_related("organisation")


class ProjectChoiceField(forms.ModelChoiceField[Project]):
    def label_from_instance(self, obj: Project) -> str:
        return f"{obj.organisation.name} / {obj.name}"


class UploadForm(forms.Form):
    project = ProjectChoiceField(queryset=Project.objects.none(), empty_label=None)
    format = forms.ChoiceField(
        choices=[("", "Detect from the content"), *ImportFormat.choices], required=False
    )
    file = forms.FileField()

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["project"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = uploadable_projects(user).order_by("organisation__name", "name")


@login_required
def upload(request: HttpRequest) -> HttpResponse:
    """The upload form; a POST imports the file and shows what was imported and skipped."""
    projects = uploadable_projects(request.user)
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES, user=request.user)
        if form.is_valid():
            project: Project = form.cleaned_data["project"]
            upload_file = form.cleaned_data["file"]
            try:
                report = import_file(
                    project,
                    upload_file.read(),
                    filename=upload_file.name,
                    fmt=form.cleaned_data["format"] or None,
                    user=request.user,
                )
            except ImportRefused as exc:
                form.add_error("file", str(exc))
            else:
                return render(
                    request,
                    "imports/result.html",
                    {
                        "report": report,
                        "project": project,
                        "filename": upload_file.name,
                        # The header names the basis of the emissions shown.
                        "org": project.organisation,
                    },
                )
        status = 400
    else:
        form = UploadForm(user=request.user)
        status = 200
    recent = ImportedFile.objects.filter(project__in=projects).select_related(
        "project", "uploaded_by"
    )[:20]
    return render(
        request,
        "imports/upload.html",
        {"form": form, "recent": recent, "has_projects": projects.exists()},
        status=status,
    )


class ImportsApiView(APIView):
    """``POST /api/v1/imports``: multipart ``file`` and optional ``format``, with an ingest key."""

    parser_classes = [MultiPartParser, FormParser]
    renderer_classes = [QuantityJSONRenderer]  # quantities rounded like every API answer

    @extend_schema(
        summary="Import a CodeCarbon, CarbonTracker or Eco2AI file into the key's project (idempotent)",
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "format": {"type": "string", "enum": FORMATS},
                },
            }
        },
        responses={200: dict, 201: dict},
    )
    def post(self, request: Request) -> Response:
        key = require_ingest_key(request)
        upload_file = request.FILES.get("file")
        if upload_file is None:
            return Response(
                {"error": "invalid", "message": "Send the file as multipart form field 'file'."},
                status=400,
            )
        fmt = request.data.get("format") or None
        try:
            report = import_file(
                key.project, upload_file.read(), filename=upload_file.name, fmt=fmt, api_key=key
            )
        except ImportRefused as exc:
            return Response({"error": "invalid", "message": str(exc)}, status=400)
        base = request.build_absolute_uri("/").rstrip("/")
        return Response(
            {
                "file": upload_file.name,
                "project_id": str(key.project.uuid),
                "basis": key.project.organisation.basis,
                **report.as_dict(base),
            },
            status=201 if report.accepted else 200,
        )
