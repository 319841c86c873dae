"""CodeCarbon-compatible API, mounted at ``^api/codecarbon/+`` (see emissions_hub/urls.py).

Paths have no trailing slash because CodeCarbon appends ``/runs`` to its endpoint; an
endpoint configured with a trailing slash gives ``//runs``, which the mount tolerates.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from api import codecarbon as cc

urlpatterns: list[URLPattern | URLResolver] = [
    path("runs", cc.CodeCarbonRunsView.as_view(), name="codecarbon-runs"),
    path("emissions", cc.CodeCarbonEmissionsView.as_view(), name="codecarbon-emissions"),
    path("auth/check", cc.CodeCarbonAuthCheckView.as_view(), name="codecarbon-auth-check"),
    path(
        "organizations", cc.CodeCarbonOrganizationsView.as_view(), name="codecarbon-organizations"
    ),
    path(
        "organizations/<str:org_id>",
        cc.CodeCarbonOrganizationDetailView.as_view(),
        name="codecarbon-organization",
    ),
    path(
        "organizations/<str:org_id>/projects",
        cc.CodeCarbonOrganizationProjectsView.as_view(),
        name="codecarbon-organization-projects",
    ),
    path("projects", cc.CodeCarbonProjectsView.as_view(), name="codecarbon-projects"),
    path(
        "projects/<str:project_id>",
        cc.CodeCarbonProjectDetailView.as_view(),
        name="codecarbon-project",
    ),
    path(
        "projects/<str:project_id>/experiments",
        cc.CodeCarbonProjectExperimentsView.as_view(),
        name="codecarbon-project-experiments",
    ),
    path(
        "projects/<str:project_id>/api-tokens",
        cc.CodeCarbonProjectTokensView.as_view(),
        name="codecarbon-project-tokens",
    ),
    path("experiments", cc.CodeCarbonExperimentsView.as_view(), name="codecarbon-experiments"),
    path(
        "experiments/<str:experiment_id>",
        cc.CodeCarbonExperimentDetailView.as_view(),
        name="codecarbon-experiment",
    ),
]
