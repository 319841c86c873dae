# ruff: noqa: S608  (SQL built from this module's own constants; every value is a parameter)
"""The sums of measurements, defined once: a run's totals and a project's hourly aggregates.

Ingestion adds the sums of each new batch to ``api_run`` and ``api_usagehour``; a rebuild
(``api.aggregates.rebuild_project``) writes the sums of every stored measurement. Both use
the SQL built here from one source relation, so the two cannot drift:

- :func:`run_sums` sums a set of measurements per run (counts, energies by component and by
  method, emissions, seconds, GPU-hours, first start, last end, the client's own figure);
- :func:`hour_rows` splits each measurement across the UTC hours it overlaps, in proportion
  to time, and sums per project, hour, zone, provider, region, factor and PUE. An interval of
  zero length, or one inside a single hour, lies wholly in its start hour; a measurement is
  counted (``measurement_count``) in its start hour only.
- :data:`EMISSIONS` is the emissions of one measurement as stored (``carbon.accounting``).

The SQL is the same text on PostgreSQL and SQLite but for four small spellings
(:class:`Dialect`); on SQLite the time functions are registered on each connection
(:func:`register_sqlite_functions`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from api.models import MEASURED_METHODS, USAGE_FIELDS
from api.schema import COMPONENTS

HOUR_KEY = ("project_id", "hour", "zone", "cloud_provider", "cloud_region", "factor_id", "pue")
# Columns a source relation must offer: the measurement's own, and its run's placement.
SOURCE_COLUMNS = (
    "run_id", "start", "end", "duration_s", "cpu_energy_kwh", "gpu_energy_kwh",
    "ram_energy_kwh", "cpu_method", "gpu_method", "ram_method", "gpu_count", "emissions_kg",
    "pue", "factor_id", "client_emissions_kg", "project_id", "zone", "cloud_provider",
    "cloud_region", "location_known",
)  # fmt: skip


@dataclass(frozen=True)
class Dialect:
    """How one database spells what the sums need. Times are taken relative to the start
    of the measurement's first hour, so the shares are exact to the microsecond."""

    hour_floor: str  # the UTC hour that contains a timestamp
    seconds: str  # seconds (float) from the second timestamp to the first
    add_hours: str  # a timestamp plus a whole number of hours
    least: str
    greatest: str
    all_true: str  # aggregate: true when every row is true
    hours_of: str  # the relation k(n) = 0 .. hours-1 of one measurement


POSTGRESQL = Dialect(
    hour_floor="(date_trunc('hour', {} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')",
    seconds="date_part('epoch', {} - {})",  # float8 directly (EXTRACT gives numeric)
    add_hours="({} + {} * interval '1 hour')",
    least="LEAST",
    greatest="GREATEST",
    all_true="bool_and({})",
    hours_of="CROSS JOIN LATERAL generate_series(0, {} - 1) AS k(n)",
)
SQLITE = Dialect(
    hour_floor="hub_hour_floor({})",
    seconds="hub_seconds({}, {})",
    add_hours="hub_add_hours({}, {})",
    least="MIN",
    greatest="MAX",
    all_true="MIN({})",
    # hub_k(n) is the recursive CTE of :func:`sqlite_offsets`, as long as the longest span.
    hours_of="JOIN hub_k AS k ON k.n < {}",
)


def dialect(vendor: str) -> Dialect:
    return POSTGRESQL if vendor == "postgresql" else SQLITE


ENERGY = "(m.cpu_energy_kwh + m.gpu_energy_kwh + m.ram_energy_kwh)"


def _by_method(methods: frozenset[str] | set[str]) -> str:
    listed = ", ".join(f"'{x}'" for x in sorted(methods))
    return " + ".join(
        f"CASE WHEN m.{c}_method IN ({listed}) THEN m.{c}_energy_kwh ELSE 0.0 END"
        for c in COMPONENTS
    )


# Each additive quantity of one measurement: the UsageHour fields but the count, and the
# run totals of the same names.
QUANTITIES = {
    "energy_kwh": ENERGY,
    "cpu_energy_kwh": "m.cpu_energy_kwh",
    "gpu_energy_kwh": "m.gpu_energy_kwh",
    "ram_energy_kwh": "m.ram_energy_kwh",
    "measured_energy_kwh": f"({_by_method(MEASURED_METHODS)})",
    "imported_energy_kwh": f"({_by_method({'imported'})})",
    "facility_energy_kwh": f"({ENERGY} * m.pue)",
    "emissions_kg": "m.emissions_kg",
    "gpu_hours": "(m.gpu_count * m.duration_s / 3600.0)",
    "duration_s": "m.duration_s",
}
RUN_TOTALS = tuple(q for q in QUANTITIES if q != "facility_energy_kwh")
assert set(QUANTITIES) | {"measurement_count"} == set(USAGE_FIELDS)


def run_sums(source: str) -> str:
    """SELECT run_id, n, <each run total>, first_start, last_end, client_kg, client_n
    FROM ``source`` (an SQL relation with :data:`SOURCE_COLUMNS`), one row per run."""
    sums = ", ".join(f"SUM({QUANTITIES[q]}) AS {q}" for q in RUN_TOTALS)
    return (
        f"SELECT m.run_id, COUNT(*) AS n, {sums}, "
        'MIN(m.start) AS first_start, MAX(m."end") AS last_end, '
        "SUM(m.client_emissions_kg) AS client_kg, COUNT(m.client_emissions_kg) AS client_n "
        f"FROM {source} m GROUP BY m.run_id"
    )


def hour_rows(source: str, d: Dialect, since: str | None = None) -> str:
    """SELECT <HOUR_KEY>, location_known, <USAGE_FIELDS> FROM ``source``, one row per key,
    ordered by key (so concurrent writers lock hour rows in one order).

    ``since`` (an SQL expression of a timestamp) keeps only the hours from then on.
    """
    h0 = d.hour_floor.format("m.start")
    s_, e_ = d.seconds.format("m.start", h0), d.seconds.format('m."end"', h0)
    timed = f"SELECT m.*, {h0} AS h0_, {s_} AS s_, {e_} AS e_ FROM {source} m"
    hours = "CASE WHEN m.e_ <= 3600.0 THEN 1 ELSE CAST(CEILING(m.e_ / 3600.0) AS INTEGER) END"
    share = (
        "CASE WHEN m.e_ <= 3600.0 THEN 1.0 ELSE "
        f"({d.least}(m.e_, 3600.0 * (k.n + 1)) - {d.greatest}(m.s_, 3600.0 * k.n)) "
        "/ (m.e_ - m.s_) END"
    )
    pieces = (
        f"SELECT m.*, {d.add_hours.format('m.h0_', 'k.n')} AS hour_, {share} AS share, "
        f"k.n AS k_ FROM ({timed}) m {d.hours_of.format(hours)}"
    )
    where = f" WHERE m.hour_ >= {since}" if since else " WHERE 1 = 1"
    sums = ", ".join(f"SUM({QUANTITIES[q]} * m.share) AS {q}" for q in QUANTITIES)
    key = "m.project_id, m.hour_, m.zone, m.cloud_provider, m.cloud_region, m.factor_id, m.pue"
    return (
        f"SELECT m.project_id, m.hour_ AS hour, m.zone, m.cloud_provider, m.cloud_region, "
        f"m.factor_id, m.pue, {d.all_true.format('m.location_known')} AS location_known, "
        f"{sums}, SUM(CASE WHEN m.k_ = 0 THEN 1 ELSE 0 END) AS measurement_count "
        f"FROM ({pieces}) m{where} GROUP BY {key} ORDER BY {key}"
    )


def upsert_hours(select: str, table: str = "api_usagehour") -> str:
    """INSERT the rows of an :func:`hour_rows` SELECT, adding to the rows already there."""
    cols = [*HOUR_KEY, "location_known", *USAGE_FIELDS]
    sets = ", ".join(f"{f} = {table}.{f} + excluded.{f}" for f in USAGE_FIELDS)
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) {select} "
        f"ON CONFLICT ({', '.join(HOUR_KEY)}) DO UPDATE SET {sets}"
    )


def add_to_runs(sums: str, d: Dialect, now: str) -> str:
    """UPDATE api_run adding the :func:`run_sums` rows ``sums`` to each run's totals.

    A run starts when its first measurement starts; a finished run ends when its last
    measurement ends (an interval that arrives after the finish moves the end); a lost run
    that reports again is running. SQL evaluates every SET expression on the row as it was
    before the UPDATE, so these see the old first_start and last_end.
    """
    first = f"COALESCE({d.least}(api_run.first_start, s.first_start), s.first_start)"
    last = f"COALESCE({d.greatest}(api_run.last_end, s.last_end), s.last_end)"
    totals = ", ".join(f"{q} = api_run.{q} + s.{q}" for q in RUN_TOTALS)
    return (
        f"UPDATE api_run SET {totals}, "
        "measurement_count = api_run.measurement_count + s.n, "
        f"first_start = {first}, started_at = {first}, last_end = {last}, "
        f"ended_at = CASE WHEN api_run.ended_at IS NULL THEN NULL ELSE {last} END, "
        f"last_seen_at = {now}, "
        "client_emissions_kg = CASE WHEN s.client_n > 0 "
        "THEN COALESCE(api_run.client_emissions_kg, 0.0) + s.client_kg "
        "ELSE api_run.client_emissions_kg END, "
        "status = CASE WHEN api_run.status = 'lost' THEN 'running' ELSE api_run.status END "
        f"FROM ({sums}) s WHERE api_run.id = s.run_id"
    )


def set_runs(sums: str, d: Dialect, runs: str) -> str:
    """UPDATE the runs selected by ``runs`` (an SQL condition on api_run) to the
    :func:`run_sums` rows ``sums`` exactly; a run with no measurements gets zero totals
    and keeps its own start and end."""
    totals = ", ".join(f"{q} = COALESCE(s.{q}, 0.0)" for q in RUN_TOTALS)
    return (
        f"UPDATE api_run SET {totals}, measurement_count = COALESCE(s.n, 0), "
        "first_start = s.first_start, last_end = s.last_end, "
        "started_at = COALESCE(s.first_start, api_run.started_at), "
        "ended_at = CASE WHEN api_run.ended_at IS NULL OR s.last_end IS NULL "
        "THEN api_run.ended_at ELSE s.last_end END "
        f"FROM (SELECT r.id AS rid, x.* FROM api_run r LEFT JOIN ({sums}) x "
        f"ON x.run_id = r.id WHERE {runs}) s WHERE api_run.id = s.rid"
    )


def bucket_pieces(d: Dialect) -> str:
    """A run's measurements spread over ``%(count)s`` equal buckets of ``%(width)s`` seconds
    from ``%(origin)s``: SELECT node, rank, kind, bucket, cpu, gpu, ram, kg.

    Each interval adds its quantities to the buckets it overlaps in proportion to the
    overlap: kind ``d`` rows are what the first and last buckets it touches get; the buckets
    it covers wholly get the same share each, written as a difference (kind ``s``: ``+share``
    from the bucket after the first, ``-share`` from the last), so one interval is at most
    four rows however many buckets it spans. An interval of zero length, or inside one
    bucket, lies wholly in its first bucket. The shares of one interval add up to one.
    One pass over the run's rows: an interval inside one bucket is one piece, others four.
    """
    s_ = d.seconds.format("m.start", "%(origin)s")
    e_ = d.seconds.format('m."end"', "%(origin)s")
    first = f"{d.least}({d.greatest}(CAST(FLOOR(t.s / %(width)s) AS INTEGER), 0), %(last)s)"
    last = (
        f"{d.least}({d.greatest}(CAST(CEILING(b.e / %(width)s) AS INTEGER) - 1, b.i0 + 1), "
        "%(last)s)"
    )
    one = "(b.e - b.s <= 0 OR b.e <= (b.i0 + 1) * %(width)s OR b.i0 = %(last)s)"
    rows = (
        f"SELECT b.*, CASE WHEN {one} THEN 1 ELSE 0 END AS single, {last} AS i1 "
        f"FROM (SELECT t.*, {first} AS i0 FROM "
        "(SELECT m.node, m.rank, m.cpu_energy_kwh, m.gpu_energy_kwh, m.ram_energy_kwh, "
        f"m.emissions_kg, {s_} AS s, {e_} AS e FROM api_measurement m "
        "WHERE m.run_id = %(run)s AND m.start >= %(since)s) t) b"
    )
    # The first bucket's share (all of it for an interval inside one bucket), from every
    # row; the last bucket's, and the difference that gives each bucket between its full
    # share, only from the few intervals that span several buckets.
    head = "CASE WHEN c.single = 1 THEN 1.0 ELSE ((c.i0 + 1) * %(width)s - c.s) / (c.e - c.s) END"
    kind = "CASE WHEN p.n = 1 THEN 'd' ELSE 's' END"
    bucket = "CASE p.n WHEN 1 THEN c.i1 WHEN 2 THEN c.i0 + 1 ELSE c.i1 END"
    share = (
        "CASE WHEN p.n = 1 THEN (c.e - c.i1 * %(width)s) / (c.e - c.s) "
        "WHEN c.i1 <= c.i0 + 1 THEN 0.0 "
        "WHEN p.n = 2 THEN %(width)s / (c.e - c.s) ELSE -%(width)s / (c.e - c.s) END"
    )
    pieces = "(SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3)"

    def sums(f: str) -> str:
        return ", ".join(
            f"SUM(c.{q} * {f})"
            for q in ("cpu_energy_kwh", "gpu_energy_kwh", "ram_energy_kwh", "emissions_kg")
        )

    return (
        f"WITH c AS MATERIALIZED ({rows}) "
        f"SELECT c.node, c.rank, 'd', c.i0, {sums(head)} FROM c GROUP BY c.node, c.rank, c.i0 "
        f"UNION ALL SELECT c.node, c.rank, {kind}, {bucket}, {sums(share)} "
        f"FROM c JOIN {pieces} p ON 1 = 1 WHERE c.single = 0 "
        f"GROUP BY c.node, c.rank, {kind}, {bucket}"
    )


def sqlite_offsets(max_hours: int) -> str:
    """The recursive CTE hub_k(n) = 0 .. max_hours-1 that SQLite joins for the hour split."""
    return (
        "hub_k(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM hub_k "
        f"WHERE n + 1 < {max(int(max_hours), 1)})"
    )


def span_hours(start: datetime, end: datetime) -> int:
    """How many UTC hours an interval touches (at least 1)."""
    first = math.floor(start.timestamp() / 3600.0)
    last = math.ceil(end.timestamp() / 3600.0)
    return max(last - first, 1)


# --- SQLite's time functions ----------------------------------------------------------------


def _moment(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _text(moment: datetime) -> str:
    """A UTC timestamp as Django stores it in SQLite."""
    return moment.replace(tzinfo=None).isoformat(" ")


def _hour_floor(value: Any) -> str | None:
    if value is None:
        return None
    return _text(_moment(value).replace(minute=0, second=0, microsecond=0))


def _seconds(a: Any, b: Any) -> float | None:
    if a is None or b is None:
        return None
    return (_moment(a) - _moment(b)).total_seconds()


def _add_hours(value: Any, n: Any) -> str | None:
    if value is None:
        return None
    return _text(_moment(value) + timedelta(hours=int(n)))


def register_sqlite_functions(sender: Any, connection: Any, **kwargs: Any) -> None:
    """``connection_created`` receiver: the time functions of :data:`SQLITE`."""
    if connection.vendor != "sqlite":
        return
    raw = connection.connection
    raw.create_function("hub_hour_floor", 1, _hour_floor, deterministic=True)
    raw.create_function("hub_seconds", 2, _seconds, deterministic=True)
    raw.create_function("hub_add_hours", 2, _add_hours, deterministic=True)
