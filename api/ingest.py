"""Ingestion: parse, check, store.

Every path that writes measurements (native API, CodeCarbon endpoints, file importers)
builds the typed measurement of ``api.schema`` once and hands a batch of them to
:func:`store`, so the accounting and the aggregates are the same whichever way the data
arrived. This module also owns the run lifecycle at ingestion (creation by run key,
finishing, predictions).

Storing a batch is one SQL statement on PostgreSQL: the run is found (by its key's project
and uuid) and locked, the new measurements are inserted (a known ``(run, start, uuid)`` is
skipped), the project's hourly aggregates and the run's totals get the sums of exactly the
rows inserted (``api.sums``, the same SQL a rebuild uses), and the updated run comes back
from RETURNING. No ORM query is compiled per request. SQLite (the quick start) runs the
same sums as three statements in one transaction.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from api import partitions, sums
from api.accounting import LocationError, Placement, place
from api.models import (
    EmissionFactor,
    Experiment,
    Project,
    Run,
    RunSource,
)
from api.schema import Invalid, MeasurementIn, unique
from carbon.accounting import emissions_kg, emissions_sql

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
        **placement.run_fields(),
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


# --- measurements -----------------------------------------------------------------------


@dataclass
class IngestResult:
    accepted: int
    duplicates: int


# The columns a batch supplies, in the order of the unnest() arrays, with their types.
BATCH_COLUMNS = (
    ("uuid", "uuid"), ("node", "text"), ("rank", "integer"), ("seq", "bigint"),
    ("start", "timestamptz"), ("end", "timestamptz"), ("duration_s", "float8"),
    ("cpu_energy_kwh", "float8"), ("gpu_energy_kwh", "float8"), ("ram_energy_kwh", "float8"),
    ("cpu_power_w", "float8"), ("gpu_power_w", "float8"), ("ram_power_w", "float8"),
    ("cpu_utilization_pct", "float8"), ("gpu_utilization_pct", "float8"),
    ("ram_utilization_pct", "float8"),
    ("cpu_method", "text"), ("gpu_method", "text"), ("ram_method", "text"),
    ("gpu_count", "integer"), ("epoch", "integer"),
    ("client_intensity_g_per_kwh", "float8"), ("client_emissions_kg", "float8"),
)  # fmt: skip
NAMES = tuple(name for name, _ in BATCH_COLUMNS)
# What the run gives each row: its id, PUE, factor and the factor's intensity.
RUN_COLUMNS = ("run_id", "pue", "intensity_g_per_kwh", "emissions_kg", "factor_id", "received")
INSERT_COLUMNS = ", ".join(f'"{c}"' for c in (*NAMES, *RUN_COLUMNS))
EMISSIONS = emissions_sql("n.cpu_energy_kwh + n.gpu_energy_kwh + n.ram_energy_kwh", "r.pue", "r.g")
PLACEMENT = "r.project_id, r.zone, r.cloud_provider, r.cloud_region, r.location_known"
CONFLICT = 'ON CONFLICT ("run_id", "start", "uuid") DO NOTHING'


def _columns(batch: Sequence[MeasurementIn]) -> list[list[Any]]:
    """One list per batch column (the unnest() arrays)."""
    return [[getattr(m, name, None) for m in batch] for name in NAMES]


RUN_FIELDS = list(Run._meta.concrete_fields)
EXPERIMENT_FIELDS = list(Experiment._meta.concrete_fields)
FACTOR_FIELDS = list(EmissionFactor._meta.concrete_fields)


def _run_answer(run: str) -> str:
    """The columns :func:`_run_from_row` reads (the run as ``run``, its experiment and its
    factor) and the joins that give them."""
    columns = ", ".join(
        [f'{run}."{f.column}"' for f in RUN_FIELDS]
        + [f'e."{f.column}"' for f in EXPERIMENT_FIELDS]
        + [f'f."{f.column}"' for f in FACTOR_FIELDS]
    )
    return (
        f"{columns} FROM {{relation}} {run} "
        f"JOIN api_experiment e ON e.id = {run}.experiment_id "
        f"JOIN api_emissionfactor f ON f.id = {run}.factor_id"
    )


def _pg_statement(locate: str) -> str:
    """The one statement that stores a batch for the run found by ``locate``."""
    arrays = ", ".join(f"%({name})s::{kind}[]" for name, kind in BATCH_COLUMNS)
    as_names = ", ".join(f'"{n}"' for n in NAMES)
    select_n = ", ".join(f'n."{n}"' for n in NAMES)
    source = f"(SELECT i.*, {PLACEMENT} FROM ins i CROSS JOIN r)"  # noqa: S608
    answer = _run_answer("x").format(relation="x")
    return f"""
WITH r AS (
    SELECT api_run.*, (SELECT g_per_kwh FROM api_emissionfactor WHERE id = api_run.factor_id) AS g
    FROM api_run WHERE {locate} FOR UPDATE
), ins AS (
    INSERT INTO api_measurement ({INSERT_COLUMNS})
    SELECT {select_n}, r.id, r.pue, r.g, {EMISSIONS}, r.factor_id, now()
    FROM unnest({arrays}) AS n({as_names}) CROSS JOIN r
    {CONFLICT}
    RETURNING *
), hours AS (
    {sums.upsert_hours(sums.hour_rows(source, sums.POSTGRESQL))}
), upd AS (
    {sums.add_to_runs(sums.run_sums(source), sums.POSTGRESQL, "now()")}
    RETURNING api_run.*
), x AS (
    SELECT * FROM upd
    UNION ALL
    SELECT api_run.* FROM api_run, r WHERE api_run.id = r.id AND NOT EXISTS (SELECT 1 FROM upd)
)
SELECT (SELECT COUNT(*) FROM ins), {answer}
"""  # noqa: S608


PG_BY_ID = _pg_statement("api_run.id = %(run)s")
PG_BY_KEY = _pg_statement("api_run.uuid = %(run_uuid)s AND api_run.project_id = %(project)s")


def _instance(model: type[Any], fields: list[Any], values: Sequence[Any]) -> Any:
    converted = [
        f.from_db_value(v, None, connection) if hasattr(f, "from_db_value") else v
        for f, v in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


def _run_from_row(row: Sequence[Any], project: Project | None) -> Run:
    a, b = 1 + len(RUN_FIELDS), 1 + len(RUN_FIELDS) + len(EXPERIMENT_FIELDS)
    run: Run = _instance(Run, RUN_FIELDS, row[1:a])
    run.experiment = _instance(Experiment, EXPERIMENT_FIELDS, row[a:b])
    run.factor = _instance(EmissionFactor, FACTOR_FIELDS, row[b:])
    if project is not None and project.pk == run.project_id:
        run.project = project
    return run


def store(
    batch: Sequence[MeasurementIn],
    *,
    run: Run | None = None,
    project: Project | None = None,
    run_uuid: uuidlib.UUID | None = None,
) -> tuple[IngestResult, Run] | None:
    """Store a batch for ``run``, or for the run ``run_uuid`` of ``project`` (None when the
    project has no such run); return the counts and the run with its new totals.

    Everything happens in one statement (PostgreSQL) or one transaction (SQLite): a failure
    stores nothing, and two posts of the same batch at the same moment count it once. A uuid
    repeated within the batch is stored once and its repeats counted as duplicates, so
    accepted + duplicates is always the size of the batch.
    """
    sent = len(batch)
    batch = unique(batch)
    partitions.ensure_partitions(m.start for m in batch)
    if connection.vendor != "postgresql":
        done = _store_sqlite(batch, run=run, project=project, run_uuid=run_uuid)
        return None if done is None else (IngestResult(done[0], sent - done[0]), done[1])
    params: dict[str, Any] = dict(zip(NAMES, _columns(batch), strict=True))
    if run is not None:
        sql, params["run"] = PG_BY_ID, run.pk
    else:
        assert project is not None and run_uuid is not None
        sql, params["run_uuid"], params["project"] = PG_BY_KEY, run_uuid, project.pk
    try:
        if connection.in_atomic_block:
            with transaction.atomic():  # a savepoint: the retry below needs a live transaction
                row = _execute(sql, params)
        else:
            row = _execute(sql, params)
    except IntegrityError as exc:
        if "no partition" not in str(exc):
            raise
        # A partition this process believed in is gone (dropped by retention, or by a
        # migration run elsewhere): look again, create it, and store once more.
        partitions.forget()
        partitions.ensure_partitions(m.start for m in batch)
        row = _execute(sql, params)
    if row is None:
        return None
    accepted = int(row[0])
    # The project in hand, never a lazy fetch of it.
    known = project or (run._state.fields_cache.get("project") if run is not None else None)
    stored = _run_from_row(row, known)
    return IngestResult(accepted, sent - accepted), stored


FIND_RUN = (
    "SELECT 0, "
    + _run_answer("r").format(relation="api_run")
    + " WHERE r.uuid = %(run_uuid)s AND r.project_id = %(project)s"
)


def find_run(project: Project, run_uuid: uuidlib.UUID) -> Run | None:
    """The run ``run_uuid`` of ``project`` with its experiment and factor, or None: one
    prepared statement (the foreign paths read a run before building its measurements)."""
    if connection.vendor != "postgresql":
        return (
            Run.objects.select_related("factor", "experiment")
            .filter(project=project, uuid=str(run_uuid))
            .first()
        )
    row = _execute(FIND_RUN, {"run_uuid": run_uuid, "project": project.pk})
    return None if row is None else _run_from_row(row, project)


def _execute(sql: str, params: dict[str, Any]) -> Any:
    """Run the store statement; return its one row (None when the run was not found).

    Server-side binding and a prepared statement: the statement is parsed and planned once
    per connection and the arrays travel as binary parameters (Django's own cursors bind on
    the client, which re-sends and re-plans the whole text each time)."""
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchone()


def ingest_measurements(run: Run, batch: Sequence[MeasurementIn]) -> IngestResult:
    """Store a batch for a run in hand (foreign paths, seeding); ``run`` is not refreshed."""
    if not batch:
        return IngestResult(0, 0)
    stored = store(batch, run=run)
    if stored is None:
        raise Run.DoesNotExist(f"run {run.pk} is gone")
    return stored[0]


# Rows per INSERT statement on SQLite: 200 x 29 parameters stays under its 32,766 limit.
INSERT_CHUNK = 200


def _store_sqlite(
    batch: Sequence[MeasurementIn],
    *,
    run: Run | None,
    project: Project | None,
    run_uuid: uuidlib.UUID | None,
) -> tuple[int, Run] | None:
    """Store a batch on SQLite; return how many rows were new and the run."""
    ops = connection.ops
    with transaction.atomic():
        qs = Run.objects.select_for_update().select_related("factor", "experiment", "project")
        locked = (
            qs.filter(pk=run.pk).first()
            if run is not None
            else qs.filter(project=project, uuid=str(run_uuid)).first()
        )
        if locked is None:
            return None
        now = ops.adapt_datetimefield_value(timezone.now())
        g = locked.factor.g_per_kwh
        fixed = [locked.pk, locked.pue, g, None, locked.factor_id, now]
        ids: list[int] = []
        row_sql = "(" + ", ".join(["%s"] * (len(NAMES) + len(RUN_COLUMNS))) + ")"
        with connection.cursor() as cursor:
            for i in range(0, len(batch), INSERT_CHUNK):
                chunk = batch[i : i + INSERT_CHUNK]
                params: list[Any] = []
                for m in chunk:
                    values = [getattr(m, name, None) for name in NAMES]
                    values[0] = m.uuid.hex
                    values[4] = ops.adapt_datetimefield_value(m.start)
                    values[5] = ops.adapt_datetimefield_value(m.end)
                    fixed[3] = emissions_kg(m.energy_kwh, locked.pue, g)
                    params.extend([*values, *fixed])
                cursor.execute(
                    f"INSERT INTO api_measurement ({INSERT_COLUMNS}) "  # noqa: S608
                    f"VALUES {', '.join([row_sql] * len(chunk))} {CONFLICT} RETURNING id",
                    params,
                )
                ids.extend(int(r[0]) for r in cursor.fetchall())
            if ids:
                listed = ", ".join(str(i) for i in ids)
                source = (
                    f"(SELECT i.*, {PLACEMENT} FROM api_measurement i "  # noqa: S608
                    f"JOIN api_run r ON r.id = i.run_id WHERE i.id IN ({listed}))"
                )
                longest = max(sums.span_hours(m.start, m.end) for m in batch)
                cursor.execute(
                    f"WITH RECURSIVE {sums.sqlite_offsets(longest)} "
                    + sums.upsert_hours(sums.hour_rows(source, sums.SQLITE))
                )
                cursor.execute(sums.add_to_runs(sums.run_sums(source), sums.SQLITE, "%s"), [now])
    fresh = Run.objects.select_related("factor", "experiment", "project__organisation").get(
        pk=locked.pk
    )
    if project is not None and fresh.project_id == project.pk:
        fresh.project = project
    return len(ids), fresh
