"""Monthly partitions of the raw measurement table, and retention of raw data.

This module owns the layout of ``api_measurement`` on PostgreSQL: a table
``PARTITION BY RANGE ("start")`` with one partition ``api_measurement_pYYYY_MM`` per UTC
month, created by migration 0008, and from then on here:

- :func:`ensure_partitions`, called by ingestion before every insert, makes the months of a
  batch exist (a set lookup in a process-level cache; DDL only on a miss);
- :func:`maintain`, a daily task, creates the coming months and, when
  ``MEASUREMENT_RETENTION_MONTHS`` is set, drops whole old months of raw measurements,
  recording each in :class:`~api.models_partitions.DroppedPartition` (hourly aggregates and
  run totals stay);
- :func:`raw_complete_from` says from which hour on the raw data is complete again, for
  rebuilding aggregates from raw measurements.

Partition DDL runs in a separate, short autocommit connection (:func:`_ddl_connection`),
never in the caller's transaction: it commits at once, holds no lock for the caller and
survives a test's rollback. On SQLite the table is not partitioned: ensure_partitions does
nothing and retention deletes rows.

The partitioned table has no foreign-key constraints (run_id and factor_id are checked and
cascaded by Django, as before): creating or attaching a partition of a table with a foreign
key takes a SHARE ROW EXCLUSIVE lock on the referenced table, which waits for every open
transaction that has written api_run (including the ingesting caller's own: a deadlock that
PostgreSQL cannot see), and each key costs a check per inserted row.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max
from django.db.models.functions import TruncMonth
from django.utils import timezone
from psycopg import errors, sql

from api.models import Measurement
from api.models_partitions import DroppedPartition
from api.periods import add_months

log = logging.getLogger(__name__)

PARENT = "api_measurement"
NAME_RE = re.compile(r"^api_measurement_p(\d{4})_(\d{2})$")
# Advisory lock keys: one serialises partition creation and dropping across processes,
# the other lets only one maintain() run at a time.
CREATE_LOCK = 0x6170695F70617274  # "api_part"
MAINTAIN_LOCK = 0x6170695F6D61696E  # "api_main"
# A creation waits at most this long for a lock (then the ingesting request fails and the
# client resends); the detach of an old month waits for older transactions to finish.
CREATE_LOCK_TIMEOUT = "5s"
DETACH_LOCK_TIMEOUT = "10min"
# OPTIONS of a Django database setting that are Django's, not libpq's.
DJANGO_OPTIONS = {"isolation_level", "server_side_binding", "pool", "assume_role"}

# Months known to have an attached partition, in this process. Only ever grows between
# refreshes from the catalogue; months that retention may have dropped are not trusted
# (see :func:`_trusted_from`).
_known: set[date] = set()
_lock = threading.Lock()


def month_of(dt: datetime) -> date:
    """The first day of ``dt``'s UTC month (a naive ``dt`` is taken as UTC)."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    return date(dt.year, dt.month, 1)


def partition_name(month: date) -> str:
    """``api_measurement_pYYYY_MM``: the partition that holds ``month``."""
    return f"{PARENT}_p{month:%Y_%m}"


def _month_start(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def retention_cutoff(now: datetime | None = None) -> date | None:
    """The first month whose raw data is kept, or None when raw data is kept forever.

    With ``MEASUREMENT_RETENTION_MONTHS`` = N > 0: the first day of the month N months
    before the current one; every whole month before it is dropped by :func:`maintain`.
    """
    keep = int(getattr(settings, "MEASUREMENT_RETENTION_MONTHS", 0))
    if keep <= 0:
        return None
    return add_months(month_of(now or timezone.now()), -keep)


def forget() -> None:
    """Empty this process's cache of partitions (after migrations or tests drop them)."""
    with _lock:
        _known.clear()


def ensure_partitions(starts: Iterable[datetime]) -> None:
    """Make sure a partition exists for the month of every start given (PostgreSQL).

    Fast path: months already known to this process, checked with no SQL. On a miss the
    catalogue is read, and missing months are created, in a separate connection.
    """
    if connection.vendor != "postgresql":
        return
    values = list(starts)
    if not values:
        return
    first, last = month_of(min(values)), month_of(max(values))
    months = {first} if first == last else {month_of(v) for v in values}
    floor = _trusted_from()
    if all(m in _known and (floor is None or m >= floor) for m in months):
        return
    _provide(months)


def _trusted_from() -> date | None:
    """Months before this may have been dropped by another process's retention since this
    process cached them; they are always checked in the catalogue (late data only)."""
    return retention_cutoff()


def maintain(now: datetime | None = None) -> dict[str, Any]:
    """Create the current month and the next ``API_PARTITIONS_AHEAD_MONTHS``; apply
    retention when ``MEASUREMENT_RETENTION_MONTHS`` > 0.

    Returns ``{"created": [months], "dropped": [{"month", "measurement_count",
    "latest_end"}], "cutoff": first kept month or None, "skipped": bool}``. ``skipped``
    is true when another maintain() holds the lock and nothing was dropped here.
    On PostgreSQL it must not run inside a transaction that has used api_measurement:
    detaching a partition waits for every such transaction to end.
    """
    now = now or timezone.now()
    current = month_of(now)
    ahead = int(getattr(settings, "API_PARTITIONS_AHEAD_MONTHS", 3))
    cutoff = retention_cutoff(now)
    result: dict[str, Any] = {"created": [], "dropped": [], "cutoff": cutoff, "skipped": False}
    if connection.vendor != "postgresql":
        if cutoff is not None:
            result["dropped"] = _delete_before(cutoff)
        return result
    result["created"] = _provide({add_months(current, i) for i in range(ahead + 1)})
    if cutoff is not None:
        dropped = _drop_before(cutoff)
        if dropped is None:
            result["skipped"] = True
        else:
            result["dropped"] = dropped
    return result


def raw_complete_from() -> datetime | None:
    """The UTC hour from which every measurement that touches an hour is still stored.

    None when retention never removed a row. Otherwise the hour after (or at, when on the
    hour) the latest ``end`` of any dropped row: hours from it on can be rebuilt from raw
    measurements; earlier hours only survive in their aggregates.
    """
    latest = DroppedPartition.objects.aggregate(m=Max("latest_end"))["m"]
    if latest is None:
        return None
    latest = latest.astimezone(UTC)
    hour = latest.replace(minute=0, second=0, microsecond=0)
    return hour if hour == latest else hour + timedelta(hours=1)


def partition_months() -> list[date]:
    """The months that have an attached partition, in order (PostgreSQL; [] on SQLite)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s) AND NOT i.inhdetachpending",
            [PARENT],
        )
        return sorted(m for (name,) in cursor.fetchall() if (m := _month_of_name(name)))


# --- PostgreSQL -------------------------------------------------------------------------


def _month_of_name(name: str) -> date | None:
    match = NAME_RE.match(name)
    return date(int(match[1]), int(match[2]), 1) if match else None


@contextmanager
def _ddl_connection(lock_timeout: str = CREATE_LOCK_TIMEOUT) -> Iterator[psycopg.Connection]:
    """A short autocommit connection to the database Django uses (the test database
    during tests), for partition DDL that must commit at once whatever the caller does."""
    s = connection.settings_dict
    params: dict[str, Any] = {
        k: v
        for k, v in {
            "dbname": s["NAME"],
            "user": s.get("USER"),
            "password": s.get("PASSWORD"),
            "host": s.get("HOST"),
            "port": s.get("PORT"),
        }.items()
        if v
    }
    params.update({k: v for k, v in (s.get("OPTIONS") or {}).items() if k not in DJANGO_OPTIONS})
    params.setdefault("application_name", "emissions-hub partitions")
    conn = psycopg.connect(**params, autocommit=True)
    try:
        conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(lock_timeout)))
        conn.execute("SET TIME ZONE 'UTC'")
        yield conn
    finally:
        conn.close()


def _attached(conn: psycopg.Connection) -> set[date]:
    """Months with a partition attached (and not being detached), from the catalogue."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(%s) AND NOT i.inhdetachpending",
        [PARENT],
    ).fetchall()
    return {m for (name,) in rows if (m := _month_of_name(name))}


def _provide(months: set[date]) -> list[date]:
    """Read the attached months into the cache and create those of ``months`` that are
    missing; return the months created."""
    created: list[date] = []
    with _lock, _ddl_connection() as conn:
        present = _attached(conn)
        _known.clear()
        _known.update(present)
        if months <= present:
            return created
        conn.execute("SELECT pg_advisory_lock(%s)", [CREATE_LOCK])
        try:
            present = _attached(conn)
            for month in sorted(months - present):
                if _create(conn, month):
                    created.append(month)
                _known.add(month)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [CREATE_LOCK])
    if created:
        log.info("created measurement partitions %s", [f"{m:%Y-%m}" for m in created])
    return created


def _create(conn: psycopg.Connection, month: date) -> bool:
    """Create the partition of ``month`` as a table of its own, then attach it; False when
    another session did it first.

    Why not ``CREATE TABLE ... PARTITION OF``: that takes an ACCESS EXCLUSIVE lock on the
    parent, which waits for every transaction reading or writing measurements (reports,
    ingestion, the caller's own open transaction) and blocks all of them meanwhile.
    ``ATTACH PARTITION`` takes only SHARE UPDATE EXCLUSIVE on the parent (PostgreSQL 12+;
    ALTER TABLE docs, "ATTACH PARTITION"), which conflicts with neither reads nor writes;
    the ACCESS EXCLUSIVE lock is on the new, empty table, whose constraint scan and unique
    index cost nothing. Both statements commit together, so no half-made month remains.
    """
    name = sql.Identifier(partition_name(month))
    bounds = sql.SQL("FOR VALUES FROM ({}) TO ({})").format(
        sql.Literal(_month_start(month).isoformat()),
        sql.Literal(_month_start(add_months(month, 1)).isoformat()),
    )
    try:
        with conn.transaction():
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} "
                    "(LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
                ).format(name, sql.Identifier(PARENT))
            )
            conn.execute(
                sql.SQL("ALTER TABLE {} ATTACH PARTITION {} {}").format(
                    sql.Identifier(PARENT), name, bounds
                )
            )
        return True
    except (
        errors.DuplicateTable,
        errors.UniqueViolation,  # two CREATE TABLE IF NOT EXISTS at once (pg_type)
        errors.WrongObjectType,  # already a partition
        errors.InvalidObjectDefinition,  # would overlap an existing partition
        errors.ObjectInUse,
    ):
        if month in _attached(conn):
            return False
        raise


def _drop_before(cutoff: date) -> list[dict[str, Any]] | None:
    """Drop every partition of a month before ``cutoff``; None when another maintain()
    is running."""
    _refuse_in_own_transaction()
    dropped: list[dict[str, Any]] = []
    with _ddl_connection(DETACH_LOCK_TIMEOUT) as conn:
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", [MAINTAIN_LOCK]).fetchone()
        if not got or not got[0]:
            return None
        try:
            # Months left detached by an interrupted run first, then each old month in
            # turn: detach, then count, record and drop it in one transaction, so that a
            # record always matches what went and a failure leaves at most one month out.
            for month, name in _detached(conn):
                if month < cutoff and (entry := _record_and_drop(conn, month, name)):
                    dropped.append(entry)
            for month, name, pending in _partitions(conn):
                if month >= cutoff:
                    continue
                # CONCURRENTLY: SHARE UPDATE EXCLUSIVE on the parent, so ingestion and reads
                # go on while it waits for the transactions that may see the partition
                # (a plain DETACH or DROP takes ACCESS EXCLUSIVE on the parent). A detach
                # that was interrupted is finished with FINALIZE.
                how = "FINALIZE" if pending else "CONCURRENTLY"
                conn.execute(
                    sql.SQL("ALTER TABLE {} DETACH PARTITION {} {}").format(
                        sql.Identifier(PARENT), sql.Identifier(name), sql.SQL(how)
                    )
                )
                with _lock:
                    _known.discard(month)
                if entry := _record_and_drop(conn, month, name):
                    dropped.append(entry)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [MAINTAIN_LOCK])
    dropped.sort(key=lambda d: d["month"])
    if dropped:
        log.info("retention dropped measurement partitions %s", dropped)
    return dropped


def _refuse_in_own_transaction() -> None:
    """Raise when the caller's transaction holds a lock on api_measurement: the detach
    would wait for it while it waits for the detach."""
    if not connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation' "
            "AND relation = to_regclass(%s)",
            [PARENT],
        )
        if cursor.fetchone():
            raise RuntimeError(
                "maintain() cannot drop partitions inside a transaction that has used "
                "api_measurement: run it outside one (the Celery task does)"
            )


def _partitions(conn: psycopg.Connection) -> list[tuple[date, str, bool]]:
    """(month, table, detach pending) of every partition, oldest first."""
    rows = conn.execute(
        "SELECT c.relname, i.inhdetachpending FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s)",
        [PARENT],
    ).fetchall()
    return sorted((m, name, pending) for name, pending in rows if (m := _month_of_name(name)))


def _detached(conn: psycopg.Connection) -> list[tuple[date, str]]:
    """(month, table) of tables named as partitions but not attached, oldest first."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND NOT c.relispartition "
        "AND c.relnamespace = current_schema()::regnamespace AND c.relname LIKE %s",
        [f"{PARENT}\\_p%"],
    ).fetchall()
    return sorted((m, name) for (name,) in rows if (m := _month_of_name(name)))


def _record_and_drop(conn: psycopg.Connection, month: date, name: str) -> dict[str, Any] | None:
    """Count a detached month, add it to its DroppedPartition row and drop it, atomically;
    None when ensure_partitions attached it again meanwhile (late data: kept)."""
    table = sql.Identifier(name)
    with conn.transaction():
        # Creation holds this lock while it attaches; once held, the table stays detached.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [CREATE_LOCK])
        still = conn.execute(
            "SELECT NOT relispartition FROM pg_class WHERE oid = to_regclass(%s)", [name]
        ).fetchone()
        if not still or not still[0]:
            return None
        row = conn.execute(sql.SQL('SELECT count(*), max("end") FROM {}').format(table)).fetchone()
        assert row is not None
        count, latest = int(row[0]), row[1]
        conn.execute(
            "INSERT INTO api_droppedpartition (month, dropped_at, measurement_count, "
            "latest_end) VALUES (%s, %s, %s, %s) ON CONFLICT (month) DO UPDATE SET "
            "dropped_at = EXCLUDED.dropped_at, "
            "measurement_count = api_droppedpartition.measurement_count "
            "+ EXCLUDED.measurement_count, "
            "latest_end = GREATEST(api_droppedpartition.latest_end, EXCLUDED.latest_end)",
            [month, timezone.now(), count, latest],
        )
        conn.execute(sql.SQL("DROP TABLE {}").format(table))
    return {"month": month, "measurement_count": count, "latest_end": latest}


# --- SQLite -----------------------------------------------------------------------------


def _delete_before(cutoff: date) -> list[dict[str, Any]]:
    """Retention without partitions: delete the rows that start before ``cutoff``,
    recording each month as PostgreSQL's retention does."""
    old = Measurement.objects.filter(start__lt=_month_start(cutoff))
    dropped: list[dict[str, Any]] = []
    with transaction.atomic():
        months = (
            old.annotate(month=TruncMonth("start", tzinfo=UTC))
            .values("month")
            .annotate(n=Count("id"), latest=Max("end"))
            .order_by("month")
        )
        for row in months:
            month = month_of(row["month"])
            record, made = DroppedPartition.objects.select_for_update().get_or_create(
                month=month,
                defaults={"measurement_count": row["n"], "latest_end": row["latest"]},
            )
            if not made:
                record.measurement_count += row["n"]
                if record.latest_end is None or row["latest"] > record.latest_end:
                    record.latest_end = row["latest"]
                record.dropped_at = timezone.now()
                record.save()
            dropped.append(
                {"month": month, "measurement_count": row["n"], "latest_end": row["latest"]}
            )
        old.delete()
    return dropped
