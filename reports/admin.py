"""Django admin for reports, contractual instruments and embodied footprints."""

from __future__ import annotations

from django.contrib import admin

from reports.models import ContractualInstrument, HardwareFootprint, Report


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin[Report]):
    list_display = [
        "title",
        "organisation",
        "period_start",
        "period_end",
        "status",
        "progress_pct",
        "scheduled",
        "created",
    ]
    list_filter = ["status", "scheduled", "organisation"]
    readonly_fields = [
        "uuid",
        "data_sha256",
        "dataset_versions",
        "started_at",
        "finished_at",
        "emailed_at",
        "error",
    ]
    filter_horizontal = ["projects"]


@admin.register(ContractualInstrument)
class ContractualInstrumentAdmin(admin.ModelAdmin[ContractualInstrument]):
    list_display = [
        "organisation",
        "kind",
        "zone",
        "period_start",
        "period_end",
        "mwh",
        "share_pct",
        "g_per_kwh",
    ]
    list_filter = ["organisation", "kind", "zone"]
    readonly_fields = ["uuid", "created"]


@admin.register(HardwareFootprint)
class HardwareFootprintAdmin(admin.ModelAdmin[HardwareFootprint]):
    list_display = ["model_name", "embodied_kg", "lifetime_hours", "source"]
    search_fields = ["model_name"]
