"""Input serializers (bounds on every number) and output shapes of the API.

The bounds of a run's PUE are ``carbon.accounting.MIN_PUE``/``MAX_PUE``, the hub's one set.
Input fields take JSON's own types only, as the measurement schema does (``api.schema``):
a number is a JSON number (not text, not ``true``), a text a JSON string, a whole number
has no fraction; timestamps have the hub's one bound (``api.schema.time_problem``) and JSON
values (params, metrics, hardware) hold only numbers a float can (``number_problem``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rest_framework import serializers

from api.models import Experiment, Organisation, Project, Run, RunStatus
from api.periods import range_problem
from api.precision import rounded
from api.schema import LARGEST, number_problem, time_problem
from carbon.accounting import MAX_PUE, MIN_PUE

# --- input ------------------------------------------------------------------------------


class FiniteFloatField(serializers.FloatField):
    """A JSON number that refuses text, booleans, NaN and infinity."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise serializers.ValidationError("must be a number")
        if not abs(data) <= LARGEST:  # NaN, infinity, or an integer beyond every float
            raise serializers.ValidationError(
                "must be a finite number (NaN and infinity are refused)"
            )
        return float(data)


class WholeNumberField(serializers.IntegerField):
    """A JSON integer: refuses text, booleans and numbers with a fraction (4.0 included)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise serializers.ValidationError("must be a whole number")
        return int(super().to_internal_value(data))


class TextField(serializers.CharField):
    """A JSON string (DRF's CharField would turn a number into text)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError("must be a string")
        return str(super().to_internal_value(data))


def storable(value: Any, name: str) -> Any:
    """``value`` when the hub can store and read it back as JSON (``api.schema.number_problem``)."""
    problem = number_problem(value, name)
    if problem:
        raise serializers.ValidationError(problem)
    return value


class HardwareSerializer(serializers.Serializer[Any]):
    cpu_model = TextField(max_length=200, required=False, allow_blank=True)
    cpu_count = WholeNumberField(min_value=0, max_value=100_000, required=False)
    gpu_model = TextField(max_length=200, required=False, allow_blank=True)
    gpu_count = WholeNumberField(min_value=0, max_value=100_000, required=False)
    ram_gb = FiniteFloatField(min_value=0, max_value=1_000_000, required=False)

    def to_internal_value(self, data: Any) -> Any:
        # Unknown hardware keys are kept, known ones validated.
        validated = super().to_internal_value(data)
        if isinstance(data, dict):
            extra = {
                k: v
                for k, v in data.items()
                if k not in self.fields and isinstance(v, str | int | float)
            }
            validated = {**extra, **validated}
        return storable(validated, "hardware")


class RunCreateSerializer(serializers.Serializer[Any]):
    run_key = TextField(max_length=200)
    experiment = TextField(max_length=200, required=False, default="default")
    name = TextField(max_length=200, required=False, allow_blank=True)
    country = TextField(max_length=3, required=False, allow_blank=True, allow_null=True)
    region = TextField(max_length=20, required=False, allow_blank=True, allow_null=True)
    cloud_provider = TextField(max_length=20, required=False, allow_blank=True, allow_null=True)
    cloud_region = TextField(max_length=40, required=False, allow_blank=True, allow_null=True)
    pue = FiniteFloatField(min_value=MIN_PUE, max_value=MAX_PUE, required=False, allow_null=True)
    hardware = HardwareSerializer(required=False)
    software = serializers.DictField(child=TextField(max_length=500), required=False)
    params = serializers.DictField(required=False)
    tags = serializers.ListField(child=TextField(max_length=100), max_length=50, required=False)
    node_count = WholeNumberField(min_value=1, max_value=100_000, required=False)
    rank_count = WholeNumberField(min_value=1, max_value=1_000_000, required=False)
    epochs_total = WholeNumberField(
        min_value=1, max_value=10_000_000, required=False, allow_null=True
    )
    started_at = serializers.DateTimeField(required=False)

    def validate_started_at(self, value: datetime) -> datetime:
        return _plausible_time(value)

    def validate_params(self, value: dict[str, Any]) -> dict[str, Any]:
        return dict(storable(value, "params"))

    def validate_pue(self, value: float | None) -> float | None:
        # Kept to the precision the API answers (api.precision), so the PUE a run shows
        # is the one its emissions were computed with.
        return None if value is None else rounded(value, "PUE")


def _plausible_time(value: datetime) -> datetime:
    """A timestamp within the hub's one bound (``api.schema.time_problem``)."""
    problem = time_problem(value)
    if problem:
        raise serializers.ValidationError(problem)
    return value


class FinishSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=[RunStatus.FINISHED, RunStatus.FAILED])
    metrics = serializers.DictField(required=False)
    ended_at = serializers.DateTimeField(required=False)

    def validate_ended_at(self, value: datetime) -> datetime:
        return _plausible_time(value)

    def validate_metrics(self, value: dict[str, Any]) -> dict[str, Any]:
        for name, metric in value.items():
            if not isinstance(metric, int | float | str | bool | type(None)):
                raise serializers.ValidationError(f"{name} must be a number, string or boolean")
        return dict(storable(value, "metrics"))


class PredictionSerializer(serializers.Serializer[Any]):
    epochs_done = WholeNumberField(min_value=1, max_value=10_000_000)
    epochs_total = WholeNumberField(min_value=1, max_value=10_000_000)
    predicted_energy_kwh = FiniteFloatField(min_value=0, max_value=10_000_000)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["epochs_done"] > attrs["epochs_total"]:
            raise serializers.ValidationError({"epochs_done": "is more than epochs_total"})
        return attrs


class ExperimentCreateSerializer(serializers.Serializer[Any]):
    name = TextField(max_length=200)
    description = TextField(required=False, allow_blank=True, max_length=5000)


class RangeSerializer(serializers.Serializer[Any]):
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)
    bucket = serializers.ChoiceField(
        choices=["hour", "day", "week", "month"], required=False, default="day"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        problems = {
            name: problem
            for name in ("start", "end")
            if attrs.get(name) and (problem := range_problem(attrs[name]))
        }
        if problems:
            raise serializers.ValidationError(problems)
        if attrs.get("start") and attrs.get("end") and attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": "must be after start"})
        return attrs


# --- output -----------------------------------------------------------------------------


def factor_out(run: Run) -> dict[str, Any]:
    f = run.factor
    return {
        "dataset": f.dataset_version,
        "zone": f.zone,
        "g_per_kwh": f.g_per_kwh,
        "year": f.year,
        "source": f.source,
        "licence": f.licence,
        "url": f.url,
        "fallback": f.is_fallback,
        # The basis of this factor (the organisation's); "derived" when the source published
        # the other basis and the hub converted it, as "note" says.
        "basis": f.basis,
        "derived": f.derived,
        "note": f.note,
    }


def run_times(run: Run) -> tuple[datetime, datetime | None, float]:
    """A run's start, end and the seconds between them, as every answer gives them.

    ``started_at`` and ``ended_at`` are the run's own fields (the first measurement's
    start once there are measurements, the last one's end once it is finished); the
    duration is the time between them, or up to the last measurement while the run is
    still going, so ``started_at + duration_s == ended_at`` holds in every answer.
    """
    return run.started_at, run.ended_at, run.wall_duration_s


def run_out(run: Run, base_url: str) -> dict[str, Any]:
    """The JSON shape of a run (quantities are rounded when rendered, ``api.precision``)."""
    started_at, ended_at, duration_s = run_times(run)
    return {
        "id": str(run.uuid),
        "run_key": run.run_key,
        "name": run.name,
        "status": run.status,
        "source": run.source,
        "experiment": run.experiment.name,
        "experiment_id": str(run.experiment.uuid),
        "project_id": str(run.project.uuid),
        "started_at": started_at,
        "ended_at": ended_at,
        "last_seen_at": run.last_seen_at,
        "zone": run.zone,
        "zone_label": run.zone_label,
        "location_known": run.location_known,
        "country": run.country or None,
        "region": run.region or None,
        "cloud_provider": run.cloud_provider or None,
        "cloud_region": run.cloud_region or None,
        "pue": run.pue,
        "intensity_g_per_kwh": run.factor.g_per_kwh,
        "factor": factor_out(run),
        "energy_kwh": run.energy_kwh,
        "facility_energy_kwh": run.energy_kwh * run.pue,
        "cpu_energy_kwh": run.cpu_energy_kwh,
        "gpu_energy_kwh": run.gpu_energy_kwh,
        "ram_energy_kwh": run.ram_energy_kwh,
        "measured_energy_kwh": run.measured_energy_kwh,
        "estimated_energy_kwh": run.estimated_energy_kwh,
        "emissions_kg": run.emissions_kg,
        "client_emissions_kg": run.client_emissions_kg,
        "gpu_hours": run.gpu_hours,
        "duration_s": duration_s,
        "measurement_count": run.measurement_count,
        "hardware": run.hardware,
        "software": run.software,
        "params": run.params,
        "metrics": run.metrics,
        "tags": run.tags,
        "node_count": run.node_count,
        "rank_count": run.rank_count,
        "epochs_total": run.epochs_total,
        "epochs_done": run.epochs_done,
        "predicted_energy_kwh": run.predicted_energy_kwh,
        "predicted_emissions_kg": run.predicted_emissions_kg,
        "url": f"{base_url}/runs/{run.uuid}/",
    }


def project_out(project: Project, totals: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(project.uuid),
        "name": project.name,
        "organisation_id": str(project.organisation.uuid),
        "organisation": project.organisation.name,
        "basis": project.organisation.basis,
        "description": project.description,
        "country": project.country or None,
        "region": project.region or None,
        "cloud_provider": project.cloud_provider or None,
        "cloud_region": project.cloud_region or None,
        "pue": project.pue,
        "hosting": project.hosting,
    }
    if totals is not None:
        out.update(totals)
    return out


def organisation_out(org: Organisation, totals: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": str(org.uuid), "name": org.name, "basis": org.basis}
    if totals is not None:
        out.update(totals)
    return out


def experiment_out(exp: Experiment, totals: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(exp.uuid),
        "name": exp.name,
        "project_id": str(exp.project.uuid),
        "description": exp.description,
        "created": exp.created,
    }
    if totals is not None:
        # Totals carry emissions: say which factor basis they are on.
        out["basis"] = exp.project.organisation.basis
        out.update(totals)
    return out
