"""Django admin for tenancy and keys."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from api.models import ApiKey, EmissionFactor, Experiment, Membership, Organisation, Project, Run


class MembershipInline(admin.TabularInline[Membership, Organisation]):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin[Organisation]):
    list_display = ["name", "uuid", "created"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ["user", "organisation", "role"]
    list_filter = ["role", "organisation"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin[Project]):
    list_display = [
        "name",
        "organisation",
        "hosting",
        "country",
        "cloud_provider",
        "cloud_region",
        "pue",
    ]
    list_filter = ["organisation", "hosting"]
    search_fields = ["name"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin[ApiKey]):
    """Keys are issued with `create_api_key` or on the project page (shown once there);
    here they can be inspected and revoked."""

    list_display = ["prefix", "name", "project", "scope", "created", "last_used", "revoked_at"]
    list_filter = ["scope", "project__organisation"]
    readonly_fields = ["prefix", "digest", "created", "last_used", "revoked_at", "uuid"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset.filter(revoked_at__isnull=True):
            key.revoke()
        messages.success(request, "Keys revoked.")


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin[Experiment]):
    list_display = ["name", "project", "created"]
    search_fields = ["name"]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin[Run]):
    list_display = [
        "run_key",
        "project",
        "experiment",
        "status",
        "zone",
        "energy_kwh",
        "emissions_kg",
    ]
    list_filter = ["status", "source"]
    search_fields = ["run_key", "name"]
    raw_id_fields = ["experiment", "factor"]


@admin.register(EmissionFactor)
class EmissionFactorAdmin(admin.ModelAdmin[EmissionFactor]):
    list_display = ["zone", "kind", "g_per_kwh", "year", "dataset_version", "is_fallback"]
    list_filter = ["dataset_version", "kind"]
