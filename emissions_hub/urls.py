"""Root URLs: admin, sign-in, the native API, the CodeCarbon-compatible API, file
imports, reports and the dashboards."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include("api.urls")),
    # CodeCarbon builds URLs by concatenation; a trailing slash in its endpoint gives "//runs".
    re_path(r"^api/codecarbon/+", include("api.codecarbon_urls")),
    path("imports/", include("api.import_urls")),
    path("reports/", include("reports.urls")),
    path("", include("dashboards.urls")),
]
