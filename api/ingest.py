"""Ingestion: runs created by client key, batches of measurements, finishing runs.

Every path that writes measurements (native API, CodeCarbon endpoints, file imports)
goes through :func:`ingest_measurements`, so the accounting and the aggregates are the
same whichever way the data arrived.
"""

from __future__ import annotations

import math
import uuid as uuidlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, DateTimeField, F, Value, When
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from api.accounting import LocationError, Placement, emissions_kg, place
from api.models import (
    MEASURED_METHODS,
    METHOD_CHOICES,
    RUN_TOTALS,
    USAGE_FIELDS,
    Experiment,
    Measurement,
    Project,
    Run,
    RunSource,
    RunStatus,
    UsageHour,
)

METHODS = frozenset(code for code, _ in METHOD_CHOICES)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


class Invalid(ValueError):
    """Bad input: a message for people and, optionally, per-field details."""

    def __init__(self, message: str, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


# --- small validators -------------------------------------------------------------------


def _number(
    item: dict[str, Any],
    name: str,
    *,
    lo: float = 0.0,
    hi: float,
    default: float | None = 0.0,
    errors: dict[str, str],
) -> float | None:
    raw = item.get(name, default)
    if raw is None:
        return None if default is None else default
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        errors[name] = "must be a number"
        return None
    try:
        value = float(raw)
    except OverflowError:  # a JSON integer with hundreds of digits
        value = math.inf
    if not math.isfinite(value):
        errors[name] = "must be a finite number (NaN and infinity are refused)"
        return None
    if value < lo:
        errors[name] = f"must be at least {lo:g}" if lo else "must not be negative"
        return None
    if value > hi:
        errors[name] = f"must be at most {hi:g}"
        return None
    return value


def _integer(
    item: dict[str, Any], name: str, *, hi: int, default: int | None, errors: dict[str, str]
) -> int | None:
    raw = item.get(name, default)
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int):
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        else:
            errors[name] = "must be a whole number"
            return None
    if raw < 0 or raw > hi:
        errors[name] = f"must be between 0 and {hi}"
        return None
    return int(raw)


def parse_time(raw: Any, name: str, errors: dict[str, str]) -> datetime | None:
    """Parse an ISO 8601 timestamp; a naive one is taken as UTC."""
    if not isinstance(raw, str):
        errors[name] = "is required, as an ISO 8601 timestamp"
        return None
    try:
        value = parse_datetime(raw.strip().replace(" ", "T", 1))
    except ValueError:
        value = None
    if value is None:
        errors[name] = f"{raw!r} is not an ISO 8601 timestamp"
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _string(item: dict[str, Any], name: str, *, max_len: int, errors: dict[str, str]) -> str:
    raw = item.get(name, "")
    if raw is None:
        return ""
    if not isinstance(raw, str | int):
        errors[name] = "must be a string"
        return ""
    text = str(raw)
    if len(text) > max_len:
        errors[name] = f"must be at most {max_len} characters"
        return ""
    return text


@dataclass
class CleanMeasurement:
    uuid: uuidlib.UUID
    seq: int
    node: str
    rank: int
    start: datetime
    end: datetime
    duration_s: float
    energies: dict[str, float]
    powers: dict[str, float | None]
    utilisation: dict[str, float | None]
    methods: dict[str, str]
    gpu_count: int
    epoch: int | None
    client_intensity_g_per_kwh: float | None = None
    client_emissions_kg: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def energy_kwh(self) -> float:
        return sum(self.energies.values())


COMPONENTS = ("cpu", "gpu", "ram")
# One interval of one rank above 100 kWh (e.g. 10 kW for 10 h) is certainly an error.
MAX_INTERVAL_KWH = 100.0
MAX_POWER_W = 100_000.0


def clean_measurement(item: Any, now: datetime | None = None) -> CleanMeasurement:
    """Validate one measurement object; raise Invalid listing every problem."""
    if not isinstance(item, dict):
        raise Invalid("each measurement must be a JSON object")
    errors: dict[str, str] = {}
    now = now or timezone.now()
    raw_uuid = item.get("uuid")
    try:
        mid = uuidlib.UUID(str(raw_uuid)) if raw_uuid is not None else None
    except ValueError:
        mid = None
    if mid is None:
        errors["uuid"] = "is required and must be a UUID (it makes resending harmless)"
    start = parse_time(item.get("start"), "start", errors)
    end = parse_time(item.get("end"), "end", errors)
    duration = _number(item, "duration_s", hi=366 * 86400.0, default=None, errors=errors)
    if start and end:
        span = (end - start).total_seconds()
        if span < 0:
            errors["end"] = "is before start"
        elif duration is not None and abs(duration - span) > max(1.0, 0.01 * span):
            errors["duration_s"] = f"is {duration:g} s but end - start is {span:g} s"
        if end > now + timedelta(seconds=settings.API_MAX_FUTURE_S):
            errors["end"] = (
                f"is in the future ({end.isoformat()}; the hub's clock says {now.isoformat()})"
            )
        if start < EARLIEST:
            errors["start"] = "is before the year 2000"
        if duration is None:
            duration = max(span, 0.0)
    energies: dict[str, float] = {}
    powers: dict[str, float | None] = {}
    utilisation: dict[str, float | None] = {}
    methods: dict[str, str] = {}
    for comp in COMPONENTS:
        energies[comp] = (
            _number(item, f"{comp}_energy_kwh", hi=MAX_INTERVAL_KWH, errors=errors) or 0.0
        )
        powers[comp] = _number(item, f"{comp}_power_w", hi=MAX_POWER_W, default=None, errors=errors)
        utilisation[comp] = _number(
            item, f"{comp}_utilization_pct", hi=100_000.0, default=None, errors=errors
        )
        method = item.get(f"{comp}_method") or ("none" if energies[comp] == 0 else None)
        if method is None:
            errors[f"{comp}_method"] = f"is required when {comp}_energy_kwh is above zero"
        elif method not in METHODS:
            errors[f"{comp}_method"] = f"{method!r} is not one of {', '.join(sorted(METHODS))}"
        else:
            methods[comp] = str(method)
    # An energy must be physically possible over its interval: this catches kWh sent as Wh
    # or J, and a zero-length interval holding energy.
    if duration is not None and "duration_s" not in errors:
        for comp in COMPONENTS:
            energy = energies[comp]
            if energy <= 0 or f"{comp}_energy_kwh" in errors:
                continue
            if duration <= 0:
                errors[f"{comp}_energy_kwh"] = "is above zero over an interval of zero seconds"
            elif energy * 3_600_000.0 / duration > MAX_POWER_W:
                errors[f"{comp}_energy_kwh"] = (
                    f"means an average of {energy * 3_600_000.0 / duration:,.0f} W over "
                    f"{duration:g} s, above the {MAX_POWER_W:,.0f} W one rank can draw "
                    "(is it in kWh?)"
                )
    gpu_default = 1 if methods.get("gpu", "none") != "none" else 0
    gpu_count = _integer(item, "gpu_count", hi=4096, default=gpu_default, errors=errors)
    seq = _integer(item, "seq", hi=2**62, default=0, errors=errors)
    rank = _integer(item, "rank", hi=1_000_000, default=0, errors=errors)
    epoch = _integer(item, "epoch", hi=10_000_000, default=None, errors=errors)
    node = _string(item, "node", max_len=200, errors=errors)
    if errors:
        raise Invalid("invalid measurement", errors)
    assert mid is not None and start is not None and end is not None and duration is not None
    return CleanMeasurement(
        uuid=mid,
        seq=seq or 0,
        node=node,
        rank=rank or 0,
        start=start,
        end=end,
        duration_s=duration,
        energies=energies,
        powers=powers,
        utilisation=utilisation,
        methods=methods,
        gpu_count=gpu_count or 0,
        epoch=epoch,
    )


def clean_batch(items: Any) -> list[CleanMeasurement]:
    """Validate a whole batch; any bad item refuses the batch, naming each bad index."""
    if not isinstance(items, list):
        raise Invalid("'measurements' must be a list of measurement objects")
    if len(items) > settings.API_MAX_BATCH:
        raise Invalid(
            f"a batch holds at most {settings.API_MAX_BATCH} measurements; this one has {len(items)}"
        )
    now = timezone.now()
    out: list[CleanMeasurement] = []
    problems: dict[str, Any] = {}
    seen: set[uuidlib.UUID] = set()
    for index, item in enumerate(items):
        try:
            clean = clean_measurement(item, now)
        except Invalid as exc:
            problems[str(index)] = exc.fields or exc.message
            continue
        if clean.uuid in seen:
            continue  # the same UUID twice in one batch counts once
        seen.add(clean.uuid)
        out.append(clean)
    if problems:
        raise Invalid(
            f"{len(problems)} of {len(items)} measurements are invalid; nothing was stored",
            problems,
        )
    return out


# --- runs -------------------------------------------------------------------------------


def resolve_experiment(project: Project, name: str | None) -> Experiment:
    """The experiment of that name in the project, created when missing."""
    name = (name or "default").strip()[:200] or "default"
    try:
        with transaction.atomic():
            exp, _ = Experiment.objects.get_or_create(project=project, name=name)
    except IntegrityError:
        exp = Experiment.objects.get(project=project, name=name)
    return exp


def placement_for(
    project: Project, experiment: Experiment, data: dict[str, Any], basis: str | None = None
) -> Placement:
    """Resolve where a run ran: the run's own location, else the experiment's, else the
    project's; the factor is on ``basis`` (default: the organisation's)."""
    keys = ("country", "region", "cloud_provider", "cloud_region")
    given = {k: (data.get(k) or "") for k in keys}
    if not any(given.values()):
        for source in (experiment, project):
            values = {k: getattr(source, k) for k in keys}
            if any(values.values()):
                given = values
                break
    try:
        return place(
            country=given["country"],
            region=given["region"],
            cloud_provider=given["cloud_provider"],
            cloud_region=given["cloud_region"],
            pue=data.get("pue"),
            default_pue=project.pue,
            basis=basis or project.organisation.basis,
        )
    except LocationError as exc:
        raise Invalid(str(exc), {"location": str(exc)}) from exc


def get_or_create_run(
    project: Project, data: dict[str, Any], source: str = RunSource.CLIENT
) -> tuple[Run, bool]:
    """Create the run for (project, run_key) or return the existing one (idempotent)."""
    run_key = data["run_key"]
    existing = (
        Run.objects.select_related("factor", "experiment")
        .filter(project=project, run_key=run_key)
        .first()
    )
    if existing is not None:
        _merge_rank_info(existing, data)
        return existing, False
    experiment = resolve_experiment(project, data.get("experiment"))
    with transaction.atomic():
        # Held until the run is stored, so a change of the organisation's basis
        # (api.aggregates.apply_basis) waits for it, or it waits for the change.
        basis = organisation_basis_for_update(project)
        return _create_run(project, experiment, data, source, basis)


def organisation_basis_for_update(project: Project) -> str:
    """The organisation's factor basis, read under a share lock on PostgreSQL.

    Run creations share the lock with each other; ``apply_basis`` takes the row FOR
    UPDATE, so a run is never created on the old basis while the figures move.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT basis FROM api_organisation WHERE id = %s FOR SHARE",
                [project.organisation_id],
            )
            row = cursor.fetchone()
            if row is not None:
                project.organisation.basis = row[0]
                return str(row[0])
    return project.organisation.basis


def _create_run(
    project: Project, experiment: Experiment, data: dict[str, Any], source: str, basis: str
) -> tuple[Run, bool]:
    run_key = data["run_key"]
    placement = placement_for(project, experiment, data, basis)
    started = data.get("started_at") or timezone.now()
    run = Run(
        project=project,
        experiment=experiment,
        run_key=run_key,
        name=data.get("name") or "",
        source=source,
        started_at=started,
        last_seen_at=timezone.now(),
        hardware=data.get("hardware") or {},
        software=data.get("software") or {},
        params=data.get("params") or {},
        tags=data.get("tags") or [],
        node_count=data.get("node_count") or 1,
        rank_count=data.get("rank_count") or 1,
        epochs_total=data.get("epochs_total"),
        country=placement.country,
        region=placement.region,
        cloud_provider=placement.cloud_provider,
        cloud_region=placement.cloud_region,
        zone=placement.zone,
        zone_label=placement.zone_label,
        location_known=placement.location_known,
        pue=placement.pue,
        factor=placement.factor,
    )
    try:
        with transaction.atomic():
            run.save()
    except IntegrityError:
        # Another rank of the same job created it a moment ago.
        return Run.objects.select_related("factor", "experiment").get(
            project=project, run_key=run_key
        ), False
    return run, True


def _merge_rank_info(run: Run, data: dict[str, Any]) -> None:
    """Raise node and rank counts to what a joining rank says; never lower them.

    ``Greatest`` in the UPDATE keeps this right when ranks join at the same moment."""
    updates: dict[str, Any] = {}
    for name in ("node_count", "rank_count"):
        value = data.get(name)
        if value and value > getattr(run, name):
            updates[name] = Greatest(F(name), Value(value))
    if updates:
        Run.objects.filter(pk=run.pk).update(**updates)
        run.refresh_from_db(fields=list(updates))


def finish_run(
    run: Run, status: str, metrics: dict[str, Any] | None, ended_at: datetime | None
) -> Run:
    """Close a run; finishing twice is harmless, later metrics are merged in.

    A run with measurements ends when its last measurement ends, whatever ``ended_at``
    the client sends (its own clock, and a moment after its last interval, would make the
    run's times disagree with its measurements'). A run without measurements ends at the
    given ``ended_at``, else at the time it is finished, and never before it started.
    """
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if ended_at is not None and ended_at < locked.started_at:
            raise Invalid(
                "ended_at is before the run started",
                {"ended_at": f"is before started_at ({locked.started_at.isoformat()})"},
            )
        locked.status = status
        if locked.last_end is not None:
            locked.ended_at = locked.last_end
        else:
            locked.ended_at = max(ended_at or locked.ended_at or timezone.now(), locked.started_at)
        if metrics:
            locked.metrics = {**locked.metrics, **metrics}
        locked.save(update_fields=["status", "ended_at", "metrics"])
    run.refresh_from_db()
    return run


def record_prediction(
    run: Run, epochs_done: int, epochs_total: int, predicted_energy_kwh: float
) -> Run:
    """Store a client's prediction of a run's whole energy, and the emissions it implies."""
    run.epochs_done = epochs_done
    run.epochs_total = epochs_total
    run.predicted_energy_kwh = predicted_energy_kwh
    run.predicted_emissions_kg = emissions_kg(predicted_energy_kwh, run.pue, run.factor.g_per_kwh)
    run.save(
        update_fields=[
            "epochs_done",
            "epochs_total",
            "predicted_energy_kwh",
            "predicted_emissions_kg",
        ]
    )
    return run


# --- measurements -----------------------------------------------------------------------


@dataclass
class IngestResult:
    accepted: int
    duplicates: int


HOUR = timedelta(hours=1)


def _hour(moment: datetime) -> datetime:
    """The UTC hour that contains ``moment``."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_shares(start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    """The UTC hours an interval ``[start, end)`` overlaps, each with the share of the
    interval's time that falls in it (the shares add up to 1).

    A measurement's additive quantities (energies, emissions, GPU-hours, seconds) are split
    across hours in these proportions, so an hour holds the energy used in it, whichever
    hour the interval started in. An interval of zero length lies wholly in its start hour.
    Ingestion and :func:`api.aggregates.rebuild_project` both use this function, so they
    write the same rows. Shares are computed on exact ``timedelta`` values (microseconds)
    so they do not depend on the time zone the timestamps were given in.
    """
    first = _hour(start)
    span = end - start
    if span <= timedelta(0) or end <= first + HOUR:
        return [(first, 1.0)]
    total = span.total_seconds()
    shares: list[tuple[datetime, float]] = []
    hour = first
    while hour < end:
        overlap = min(end, hour + HOUR) - max(start, hour)
        shares.append((hour, overlap.total_seconds() / total))
        hour += HOUR
    return shares


def ingest_measurements(run: Run, batch: list[CleanMeasurement]) -> IngestResult:
    """Store new measurements of a run, skip known UUIDs, and update the aggregates.

    The run row is locked for the batch so that two concurrent posts of the same batch
    cannot both count it. Everything happens in one transaction: a failure stores nothing.
    The ``run`` object passed in is not refreshed: re-read it for the new totals.
    """
    if not batch:
        return IngestResult(0, 0)
    with transaction.atomic():
        locked = Run.objects.select_for_update().select_related("factor").get(pk=run.pk)
        inserted = _insert_new(locked, batch)
        fresh = [m for m in batch if m.uuid in inserted]
        if fresh:
            _store(locked, fresh)
    return IngestResult(accepted=len(fresh), duplicates=len(batch) - len(fresh))


MEASUREMENT_COLUMNS = (
    "uuid", "run_id", "node", "rank", "seq", "start", "end", "duration_s",
    "cpu_energy_kwh", "gpu_energy_kwh", "ram_energy_kwh",
    "cpu_power_w", "gpu_power_w", "ram_power_w",
    "cpu_utilization_pct", "gpu_utilization_pct", "ram_utilization_pct",
    "cpu_method", "gpu_method", "ram_method", "gpu_count", "epoch",
    "pue", "intensity_g_per_kwh", "emissions_kg", "factor_id",
    "client_intensity_g_per_kwh", "client_emissions_kg", "received",
)  # fmt: skip
# PostgreSQL array type of each column, for the unnest() form of the insert.
PG_TYPES = (
    "uuid", "bigint", "text", "integer", "bigint", "timestamptz", "timestamptz", "float8",
    "float8", "float8", "float8", "float8", "float8", "float8", "float8", "float8", "float8",
    "text", "text", "text", "integer", "integer",
    "float8", "float8", "float8", "bigint", "float8", "float8", "timestamptz",
)  # fmt: skip
# Rows per INSERT statement on SQLite: 200 x 29 parameters stays under its 32,766 limit.
INSERT_CHUNK = 200


def _insert_new(run: Run, batch: list[CleanMeasurement]) -> set[uuidlib.UUID]:
    """Insert the batch, skipping UUIDs already stored; return the UUIDs actually inserted.

    ``INSERT ... ON CONFLICT (run_id, uuid) DO NOTHING RETURNING uuid`` is the same SQL on
    PostgreSQL and SQLite (3.35+), and tells exactly which rows are new even when another
    request stores the same UUID at the same moment, so nothing is counted twice.
    """
    ops = connection.ops
    sqlite = connection.vendor == "sqlite"
    factor = run.factor
    now = ops.adapt_datetimefield_value(timezone.now())
    table = ops.quote_name(Measurement._meta.db_table)
    cols = ", ".join(ops.quote_name(c) for c in MEASUREMENT_COLUMNS)
    row_sql = "(" + ", ".join(["%s"] * len(MEASUREMENT_COLUMNS)) + ")"
    rows = [
        (
            m.uuid.hex if sqlite else m.uuid,
            run.pk,
            m.node,
            m.rank,
            m.seq,
            ops.adapt_datetimefield_value(m.start),
            ops.adapt_datetimefield_value(m.end),
            m.duration_s,
            m.energies["cpu"],
            m.energies["gpu"],
            m.energies["ram"],
            m.powers["cpu"],
            m.powers["gpu"],
            m.powers["ram"],
            m.utilisation["cpu"],
            m.utilisation["gpu"],
            m.utilisation["ram"],
            m.methods["cpu"],
            m.methods["gpu"],
            m.methods["ram"],
            m.gpu_count,
            m.epoch,
            run.pue,
            factor.g_per_kwh,
            emissions_kg(m.energy_kwh, run.pue, factor.g_per_kwh),
            factor.pk,
            m.client_intensity_g_per_kwh,
            m.client_emissions_kg,
            now,
        )
        for m in batch
    ]
    conflict = (
        f"ON CONFLICT ({ops.quote_name('run_id')}, {ops.quote_name('uuid')}) DO NOTHING "
        f"RETURNING {ops.quote_name('uuid')}"
    )
    inserted: set[uuidlib.UUID] = set()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One array per column: a short statement whatever the batch size, which the
            # driver parses once and caches (a long VALUES list costs ~10 ms to parse).
            arrays = ", ".join(f"%s::{t}[]" for t in PG_TYPES)
            columns = [list(col) for col in zip(*rows, strict=True)]
            sql = f"INSERT INTO {table} ({cols}) SELECT * FROM unnest({arrays}) {conflict}"  # noqa: S608
            cursor.execute(sql, columns)
            inserted.update(uuidlib.UUID(str(row[0])) for row in cursor.fetchall())
            return inserted
        for i in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[i : i + INSERT_CHUNK]
            values = ", ".join([row_sql] * len(chunk))
            cursor.execute(
                f"INSERT INTO {table} ({cols}) VALUES {values} {conflict}",  # noqa: S608
                [v for row in chunk for v in row],
            )
            inserted.update(uuidlib.UUID(str(row[0])) for row in cursor.fetchall())
    return inserted


def _store(run: Run, fresh: list[CleanMeasurement]) -> None:
    """Add freshly inserted measurements to the run's totals and the project's hours.

    Each measurement's additive quantities are split across the UTC hours it overlaps in
    proportion to time (:func:`hour_shares`); ``measurement_count`` stays a whole number,
    counted in the hour where the interval starts. The run's ``started_at`` becomes the
    earliest measurement start, and a finished run's ``ended_at`` the latest end, so that a
    run's times are those of its measurements in every answer and page.
    """
    factor = run.factor
    pue = run.pue
    hours: dict[datetime, dict[str, float]] = defaultdict(lambda: dict.fromkeys(USAGE_FIELDS, 0.0))
    totals = dict.fromkeys(RUN_TOTALS, 0.0)
    client_total = 0.0
    has_client = False
    first = min(m.start for m in fresh)
    last = max(m.end for m in fresh)
    for m in fresh:
        energy = m.energy_kwh
        kg = emissions_kg(energy, pue, factor.g_per_kwh)
        measured = sum(m.energies[c] for c in COMPONENTS if m.methods[c] in MEASURED_METHODS)
        imported = sum(m.energies[c] for c in COMPONENTS if m.methods[c] == "imported")
        gpu_hours = m.gpu_count * m.duration_s / 3600.0
        if m.client_emissions_kg is not None:
            has_client = True
            client_total += m.client_emissions_kg
        values = usage_values(
            energy,
            m.energies["cpu"],
            m.energies["gpu"],
            m.energies["ram"],
            measured,
            imported,
            pue,
            kg,
            gpu_hours,
            m.duration_s,
        )
        shares = hour_shares(m.start, m.end)
        hours[shares[0][0]]["measurement_count"] += 1
        for hour, share in shares:
            h = hours[hour]
            for name, value in values:
                h[name] += value * share
        totals["energy_kwh"] += energy
        totals["cpu_energy_kwh"] += m.energies["cpu"]
        totals["gpu_energy_kwh"] += m.energies["gpu"]
        totals["ram_energy_kwh"] += m.energies["ram"]
        totals["measured_energy_kwh"] += measured
        totals["imported_energy_kwh"] += imported
        totals["emissions_kg"] += kg
        totals["duration_s"] += m.duration_s
        totals["gpu_hours"] += gpu_hours
    upsert_hours(run, hours)
    updates: dict[str, Any] = {name: F(name) + value for name, value in totals.items()}
    updates["measurement_count"] = F("measurement_count") + len(fresh)
    first_start = Coalesce(Least(F("first_start"), Value(first)), Value(first))
    last_end = Coalesce(Greatest(F("last_end"), Value(last)), Value(last))
    updates["first_start"] = first_start
    updates["last_end"] = last_end
    # A run starts when its first measurement starts, whatever time it was created at or
    # said it started; a finished run ends when its last measurement ends (an interval
    # that arrives after the finish moves the end). SQL evaluates every SET expression on
    # the row as it was before the UPDATE, so these see the old first_start and last_end.
    updates["started_at"] = first_start
    updates["ended_at"] = Case(
        When(ended_at__isnull=True, then=Value(None, output_field=DateTimeField())),
        default=last_end,
        output_field=DateTimeField(),
    )
    updates["last_seen_at"] = timezone.now()
    if has_client:
        updates["client_emissions_kg"] = (
            Coalesce(F("client_emissions_kg"), Value(0.0)) + client_total
        )
    if run.status == RunStatus.LOST:
        updates["status"] = RunStatus.RUNNING
    Run.objects.filter(pk=run.pk).update(**updates)


def usage_values(
    energy: float,
    cpu: float,
    gpu: float,
    ram: float,
    measured: float,
    imported: float,
    pue: float,
    kg: float,
    gpu_hours: float,
    duration_s: float,
) -> tuple[tuple[str, float], ...]:
    """The additive UsageHour quantities of one measurement (all but its count), in the
    order ingestion and rebuilds both add them, so the two give the same floats."""
    return (
        ("energy_kwh", energy),
        ("cpu_energy_kwh", cpu),
        ("gpu_energy_kwh", gpu),
        ("ram_energy_kwh", ram),
        ("measured_energy_kwh", measured),
        ("imported_energy_kwh", imported),
        ("facility_energy_kwh", energy * pue),
        ("emissions_kg", kg),
        ("gpu_hours", gpu_hours),
        ("duration_s", duration_s),
    )


def upsert_hours(run: Run, hours: dict[datetime, dict[str, float]]) -> None:
    """Add per-hour sums to the project's UsageHour rows in one statement.

    ``INSERT ... ON CONFLICT DO UPDATE SET x = x + excluded.x`` is the same SQL on
    PostgreSQL and SQLite, and is safe under concurrent writers of the same hour.
    """
    table = UsageHour._meta.db_table
    key_cols = ["project_id", "hour", "zone", "cloud_provider", "cloud_region", "factor_id", "pue"]
    cols = [*key_cols, "location_known", *USAGE_FIELDS]
    placeholders = "(" + ", ".join(["%s"] * len(cols)) + ")"
    params: list[Any] = []
    for hour, sums in hours.items():
        params.extend(
            [
                run.project_id,
                connection.ops.adapt_datetimefield_value(hour),
                run.zone,
                run.cloud_provider,
                run.cloud_region,
                run.factor_id,
                run.pue,
                run.location_known,
                *[sums[f] if f != "measurement_count" else int(sums[f]) for f in USAGE_FIELDS],
            ]
        )
    sets = ", ".join(f"{f} = {table}.{f} + excluded.{f}" for f in USAGE_FIELDS)
    sql = (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES {', '.join([placeholders] * len(hours))} "  # noqa: S608
        f"ON CONFLICT ({', '.join(key_cols)}) DO UPDATE SET {sets}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
