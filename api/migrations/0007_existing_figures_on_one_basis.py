"""Put the figures stored before factor bases existed on their organisation's basis.

hub-2025.1 set Ember's lifecycle country factors beside direct-combustion figures for US
eGRID subregions, Canadian provinces and residual mixes, so an organisation with runs in
both had totals on two bases. Every organisation starts on the lifecycle basis (0004);
here each measurement, run and hourly aggregate that used a factor of the other basis is
re-pointed at the same dataset's factor for the same zone on the organisation's basis,
converted as carbon.basis describes, and its emissions recomputed. Aggregates keep their
energy; their emissions are facility energy x the new factor.
"""

from django.db import migrations
from django.db.models import F, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

ENERGY = F("cpu_energy_kwh") + F("gpu_energy_kwh") + F("ram_energy_kwh")


def one_basis(apps, schema_editor):
    import carbon

    organisation = apps.get_model("api", "Organisation")
    factor = apps.get_model("api", "EmissionFactor")
    measurement = apps.get_model("api", "Measurement")
    run = apps.get_model("api", "Run")
    hour = apps.get_model("api", "UsageHour")
    for org in organisation.objects.all():
        stale = factor.objects.filter(kind="location").exclude(basis=org.basis)
        used = (
            stale.filter(measurements__run__project__organisation=org)
            | stale.filter(runs__project__organisation=org)
        ).distinct()
        for old in used:
            try:
                fac = carbon.get_dataset(old.dataset_version).factor(old.zone, org.basis)
            except (carbon.DatasetError, carbon.UnknownLocation):
                continue
            new, _ = factor.objects.get_or_create(
                dataset_version=old.dataset_version,
                zone=old.zone,
                kind="location",
                basis=org.basis,
                defaults={
                    "g_per_kwh": fac.g_per_kwh,
                    "year": fac.year,
                    "source": fac.source,
                    "licence": fac.licence,
                    "url": fac.url,
                    "is_fallback": fac.is_fallback,
                    "derived": fac.derived,
                    "note": fac.note,
                },
            )
            g = new.g_per_kwh
            measurement.objects.filter(run__project__organisation=org, factor=old).update(
                factor=new, intensity_g_per_kwh=g, emissions_kg=ENERGY * F("pue") * g / 1000.0
            )
            hour.objects.filter(project__organisation=org, factor=old).update(
                factor=new, emissions_kg=F("facility_energy_kwh") * g / 1000.0
            )
            runs = run.objects.filter(project__organisation=org, factor=old)
            runs.update(factor=new)
            runs.filter(predicted_energy_kwh__isnull=False).update(
                predicted_emissions_kg=F("predicted_energy_kwh") * F("pue") * g / 1000.0
            )
        kg = (
            measurement.objects.filter(run=OuterRef("pk"))
            .values("run")
            .annotate(kg=Sum("emissions_kg"))
            .values("kg")
        )
        run.objects.filter(project__organisation=org).update(
            emissions_kg=Coalesce(Subquery(kg), 0.0)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0006_run_imported_energy"),
    ]

    operations = [
        migrations.RunPython(one_basis, migrations.RunPython.noop),
    ]
