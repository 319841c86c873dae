"""CodeCarbon-compatible API, mounted at ``^api/codecarbon/+`` (see emissions_hub/urls.py).

Paths have no trailing slash because CodeCarbon appends ``/runs`` to its endpoint; an
endpoint configured with a trailing slash gives ``//runs``, which the mount tolerates.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from api import codecarbon as cc

urlpatterns: list[URLPattern | URLResolver] = [
    path("runs", cc.RunsView.as_view(), name="codecarbon-runs"),
    path("emissions", cc.EmissionsView.as_view(), name="codecarbon-emissions"),
    path("auth/check", cc.AuthCheckView.as_view(), name="codecarbon-auth-check"),
    path("organizations", cc.OrganizationsView.as_view(), name="codecarbon-organizations"),
    path(
        "organizations/<str:org_id>",
        cc.OrganizationDetailView.as_view(),
        name="codecarbon-organization",
    ),
    path(
        "organizations/<str:org_id>/projects",
        cc.OrganizationProjectsView.as_view(),
        name="codecarbon-organization-projects",
    ),
    path("projects", cc.ProjectsView.as_view(), name="codecarbon-projects"),
    path("projects/<str:project_id>", cc.ProjectDetailView.as_view(), name="codecarbon-project"),
    path(
        "projects/<str:project_id>/experiments",
        cc.ProjectExperimentsView.as_view(),
        name="codecarbon-project-experiments",
    ),
    path(
        "projects/<str:project_id>/api-tokens",
        cc.ProjectTokensView.as_view(),
        name="codecarbon-project-tokens",
    ),
    path("experiments", cc.ExperimentsView.as_view(), name="codecarbon-experiments"),
    path(
        "experiments/<str:experiment_id>",
        cc.ExperimentDetailView.as_view(),
        name="codecarbon-experiment",
    ),
]
