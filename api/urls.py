from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api import views
from api.importers.views import ImportsApiView

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("runs", views.RunsView.as_view(), name="api-runs"),
    path("runs/<str:run_id>", views.RunDetailView.as_view(), name="api-run"),
    path(
        "runs/<str:run_id>/measurements",
        views.RunMeasurementsView.as_view(),
        name="api-run-measurements",
    ),
    path("runs/<str:run_id>/finish", views.RunFinishView.as_view(), name="api-run-finish"),
    path(
        "runs/<str:run_id>/prediction", views.RunPredictionView.as_view(), name="api-run-prediction"
    ),
    path("runs/<str:run_id>/series", views.RunSeriesView.as_view(), name="api-run-series"),
    path("projects", views.ProjectsView.as_view(), name="api-projects"),
    path("projects/<str:project_id>", views.ProjectDetailView.as_view(), name="api-project"),
    path(
        "projects/<str:project_id>/summary",
        views.ProjectSummaryView.as_view(),
        name="api-project-summary",
    ),
    path(
        "projects/<str:project_id>/series",
        views.ProjectSeriesView.as_view(),
        name="api-project-series",
    ),
    path("organisations", views.OrganisationsView.as_view(), name="api-organisations"),
    path(
        "organisations/<str:org_id>",
        views.OrganisationDetailView.as_view(),
        name="api-organisation",
    ),
    path(
        "organisations/<str:org_id>/series",
        views.OrganisationSeriesView.as_view(),
        name="api-organisation-series",
    ),
    path("experiments", views.ExperimentsView.as_view(), name="api-experiments"),
    path(
        "experiments/<str:experiment_id>",
        views.ExperimentDetailView.as_view(),
        name="api-experiment",
    ),
    path("imports", ImportsApiView.as_view(), name="api-imports"),
]
