"""Monthly partitions of raw measurements and retention (api.partitions, migration 0008).

On PostgreSQL api_measurement is partitioned by month of ``start``; partitions are made
ahead and on demand in a separate connection, and retention drops whole old months,
recording them, while aggregates and run totals stay. Tests that need the separate
connection to see their data run with ``transaction=True``. Each test uses months of its
own, since partitions outlive a test's rollback.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings as django_settings
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from api import partitions, tasks
from api.models import EmissionFactor, Measurement, Project, Run, UsageHour
from api.models_partitions import DroppedPartition
from api.periods import add_months
from tests.cast import Cast

pg = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL partitions")


def t(y: int, mo: int, d: int = 1, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def make_run(project: Project, key: str = "job") -> Run:
    factor, _ = EmissionFactor.objects.get_or_create(
        dataset_version="test",
        zone="FRA",
        defaults={"g_per_kwh": 50.0, "year": 2024, "source": "test"},
    )
    exp = project.default_experiment()
    return Run.objects.create(
        project=project,
        experiment=exp,
        run_key=key,
        zone="FRA",
        zone_label="France",
        pue=1.2,
        factor=factor,
        energy_kwh=2.5,
        emissions_kg=0.15,
        measurement_count=3,
    )


def add(run: Run, start: datetime, seconds: float = 600, uid: uuid.UUID | None = None) -> Any:
    """Store one measurement of ``run`` (its partition must exist)."""
    return Measurement.objects.create(
        run=run,
        uuid=uid or uuid.uuid4(),
        start=start,
        end=start + timedelta(seconds=seconds),
        duration_s=seconds,
        cpu_energy_kwh=0.01,
        pue=run.pue,
        intensity_g_per_kwh=50.0,
        emissions_kg=0.0006,
        factor=run.factor,
    )


def dropped_in(done: dict[str, Any], year: int) -> list[tuple[date, int]]:
    """The (month, count) maintain() dropped in ``year`` (other tests' months may go too:
    partitions outlive tests)."""
    return [
        (d["month"], d["measurement_count"]) for d in done["dropped"] if d["month"].year == year
    ]


def partition_of(m: Measurement) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM api_measurement WHERE id = %s", [m.pk])
        return str(cursor.fetchone()[0])


# --- helpers ----------------------------------------------------------------------------


def test_month_arithmetic() -> None:
    assert partitions.month_of(t(2026, 12, 31, 23, 59)) == date(2026, 12, 1)
    east = datetime(2027, 1, 1, 0, 30, tzinfo=UTC).astimezone(ZoneInfo("America/New_York"))
    assert east.month == 12 and partitions.month_of(east) == date(2027, 1, 1)  # UTC month
    assert add_months(date(2026, 11, 1), 3) == date(2027, 2, 1)
    assert add_months(date(2026, 2, 1), -3) == date(2025, 11, 1)
    assert partitions.partition_name(date(2027, 3, 1)) == "api_measurement_p2027_03"


def test_retention_cutoff(settings: Any) -> None:
    settings.MEASUREMENT_RETENTION_MONTHS = 0
    assert partitions.retention_cutoff(t(2026, 12, 15)) is None
    settings.MEASUREMENT_RETENTION_MONTHS = 3
    assert partitions.retention_cutoff(t(2026, 12, 15)) == date(2026, 9, 1)


# --- the table --------------------------------------------------------------------------


@pg
@pytest.mark.django_db
def test_the_table_is_partitioned_by_month_of_start_with_one_unique_index() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT partstrat, a.attname FROM pg_partitioned_table p "
            "JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] "
            "WHERE p.partrelid = 'api_measurement'::regclass"
        )
        assert cursor.fetchall() == [("r", "start")]
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'api_measurement'")
        (only,) = cursor.fetchall()
        assert "UNIQUE" in only[0] and "(run_id, start, uuid)" in only[0]
        cursor.execute(
            "SELECT contype FROM pg_constraint WHERE conrelid = 'api_measurement'::regclass "
            "AND contype IN ('p', 'f')"
        )
        assert cursor.fetchall() == []
        cursor.execute("SELECT pg_get_serial_sequence('api_measurement', 'id')")
        assert cursor.fetchone()[0] == "public.api_measurement_id_seq"
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'api_run'")
        assert cursor.fetchone()[0] == ["fillfactor=70"]
    # The migration made the current month and the next three.
    now = partitions.month_of(datetime.now(UTC))
    months = partitions.partition_months()
    assert {add_months(now, i) for i in range(4)} <= set(months)


@pg
@pytest.mark.django_db
def test_a_row_lands_in_the_partition_of_its_month(cast: Cast) -> None:
    run = make_run(cast.project)
    partitions.ensure_partitions([t(2021, 5, 31, 23, 55), t(2021, 6, 1)])
    may, june = add(run, t(2021, 5, 31, 23, 55)), add(run, t(2021, 6, 1))
    assert partition_of(may) == "api_measurement_p2021_05"
    assert partition_of(june) == "api_measurement_p2021_06"
    assert Measurement.objects.filter(run=run).count() == 2
    # Ids keep coming from the sequence.
    assert june.pk > may.pk


@pg
@pytest.mark.django_db
def test_the_unique_key_rejects_a_resent_interval_but_not_the_same_uuid_later(
    cast: Cast,
) -> None:
    run = make_run(cast.project)
    partitions.ensure_partitions([t(2021, 7, 2)])
    uid = uuid.uuid4()
    add(run, t(2021, 7, 2), uid=uid)
    with pytest.raises(IntegrityError), transaction.atomic():
        add(run, t(2021, 7, 2), uid=uid)
    add(run, t(2021, 7, 2, 1), uid=uid)  # another start: another row
    with connection.cursor() as cursor:
        cursor.execute(
            'INSERT INTO api_measurement (uuid, run_id, node, rank, seq, start, "end", '
            "duration_s, cpu_energy_kwh, gpu_energy_kwh, ram_energy_kwh, cpu_method, "
            "gpu_method, ram_method, gpu_count, pue, intensity_g_per_kwh, emissions_kg, "
            "factor_id, received) VALUES (%s, %s, '', 0, 0, %s, %s, 600, 0, 0, 0, 'none', "
            "'none', 'none', 0, 1.2, 50, 0, %s, now()) "
            "ON CONFLICT (run_id, start, uuid) DO NOTHING RETURNING id",
            [uid, run.pk, t(2021, 7, 2), t(2021, 7, 2, 0, 10), run.factor_id],
        )
        assert cursor.fetchall() == []
    assert Measurement.objects.filter(run=run).count() == 2


# --- ensure_partitions ------------------------------------------------------------------


@pg
@pytest.mark.django_db(transaction=True)
def test_ensure_partitions_creates_a_missing_month_then_answers_from_its_cache(
    monkeypatch: pytest.MonkeyPatch, django_assert_num_queries: Any
) -> None:
    month = date(2020, 3, 1)
    assert month not in partitions.partition_months()
    partitions.ensure_partitions([t(2020, 3, 14, 15)])
    assert month in partitions.partition_months()
    # Cached: no SQL, no separate connection.
    monkeypatch.setattr(partitions, "_provide", lambda months: pytest.fail("not cached"))
    with django_assert_num_queries(0):
        partitions.ensure_partitions([t(2020, 3, 1), t(2020, 3, 31, 23, 59)])
        partitions.ensure_partitions([])


@pg
@pytest.mark.django_db(transaction=True)
def test_a_fresh_process_learns_existing_months_without_creating_them() -> None:
    partitions.ensure_partitions([t(2020, 4, 2)])
    partitions.forget()
    assert partitions._provide({date(2020, 4, 1)}) == []
    assert date(2020, 4, 1) in partitions._known


@pg
@pytest.mark.django_db
def test_ensure_partitions_works_inside_a_transaction_that_wrote_runs(cast: Cast) -> None:
    """The caller's open transaction holds locks on api_run and api_measurement; the
    partition is made in another connection and must not wait for them."""
    run = make_run(cast.project)
    partitions.ensure_partitions([t(2021, 8, 1)])
    add(run, t(2021, 8, 1))
    Run.objects.filter(pk=run.pk).update(energy_kwh=3.0)
    partitions.ensure_partitions([t(2021, 9, 9)])  # a new month, mid-transaction
    assert partition_of(add(run, t(2021, 9, 9))) == "api_measurement_p2021_09"


@pg
@pytest.mark.django_db(transaction=True)
def test_two_sessions_creating_the_same_month_at_once_both_succeed() -> None:
    month = date(2020, 5, 1)
    barrier = threading.Barrier(2)
    outcome: list[Any] = []

    def create() -> None:
        try:
            with partitions._ddl_connection() as conn:
                barrier.wait()
                outcome.append(partitions._create(conn, month))
        except Exception as exc:  # reported below
            outcome.append(exc)

    threads = [threading.Thread(target=create) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(map(repr, outcome)) == ["False", "True"]
    assert month in partitions.partition_months()


# --- retention --------------------------------------------------------------------------


@pg
@pytest.mark.django_db(transaction=True)
def test_retention_drops_only_whole_old_months_and_records_them(cast: Cast, settings: Any) -> None:
    settings.MEASUREMENT_RETENTION_MONTHS = 3
    settings.API_PARTITIONS_AHEAD_MONTHS = 1
    run = make_run(cast.project)
    starts = [t(2001, 1, 5), t(2001, 1, 20), t(2001, 2, 28, 23, 30), t(2001, 3, 1), t(2001, 4, 2)]
    partitions.ensure_partitions(starts)
    for s in starts[:2]:
        add(run, s)
    add(run, starts[2], seconds=3600)  # ends 2001-03-01 00:30, in a kept month
    add(run, starts[3])
    add(run, starts[4])
    hour = UsageHour.objects.create(
        project=cast.project, hour=t(2001, 1, 5), zone="FRA", factor=run.factor, pue=1.2,
        energy_kwh=0.02, facility_energy_kwh=0.024, emissions_kg=0.0012, measurement_count=2,
    )  # fmt: skip
    assert partitions.raw_complete_from() is None

    done = partitions.maintain(now=t(2001, 6, 15, 12))

    assert done["cutoff"] == date(2001, 3, 1)
    assert done["created"] == [date(2001, 6, 1), date(2001, 7, 1)]
    assert dropped_in(done, 2001) == [(date(2001, 1, 1), 2), (date(2001, 2, 1), 1)]
    months = partitions.partition_months()
    assert date(2001, 1, 1) not in months and date(2001, 2, 1) not in months
    assert {date(2001, 3, 1), date(2001, 4, 1)} <= set(months)
    assert sorted(Measurement.objects.values_list("start", flat=True)) == starts[3:]
    records = {r.month: r for r in DroppedPartition.objects.all()}
    assert records[date(2001, 1, 1)].measurement_count == 2
    assert records[date(2001, 1, 1)].latest_end == t(2001, 1, 20, 0, 10)
    assert records[date(2001, 2, 1)].latest_end == t(2001, 3, 1, 0, 30)
    # Aggregates and run totals stay.
    hour.refresh_from_db()
    assert hour.energy_kwh == 0.02 and hour.measurement_count == 2
    run.refresh_from_db()
    assert (run.energy_kwh, run.emissions_kg, run.measurement_count) == (2.5, 0.15, 3)
    # From the hour after the latest dropped end on, raw data is complete.
    assert partitions.raw_complete_from() == t(2001, 3, 1, 1)

    # Again: nothing more to drop.
    assert dropped_in(partitions.maintain(now=t(2001, 6, 15, 13)), 2001) == []

    # Late data for a dropped month is stored (its partition comes back) and dropped
    # again the next time, adding to the month's record.
    partitions.ensure_partitions([t(2001, 1, 30)])
    add(run, t(2001, 1, 30, 10), seconds=7200)
    again = partitions.maintain(now=t(2001, 6, 16))
    assert dropped_in(again, 2001) == [(date(2001, 1, 1), 1)]
    jan = DroppedPartition.objects.get(month=date(2001, 1, 1))
    assert jan.measurement_count == 3 and jan.latest_end == t(2001, 1, 30, 12)
    assert partitions.raw_complete_from() == t(2001, 3, 1, 1)


@pg
@pytest.mark.django_db(transaction=True)
def test_without_retention_maintain_only_creates_months(settings: Any) -> None:
    settings.MEASUREMENT_RETENTION_MONTHS = 0
    settings.API_PARTITIONS_AHEAD_MONTHS = 2
    partitions.ensure_partitions([t(2002, 1, 1)])
    done = partitions.maintain(now=t(2002, 11, 3))
    assert done["cutoff"] is None and done["dropped"] == []
    assert done["created"] == [date(2002, 11, 1), date(2002, 12, 1), date(2003, 1, 1)]
    assert date(2002, 1, 1) in partitions.partition_months()
    assert partitions.maintain(now=t(2002, 11, 4))["created"] == []


@pytest.mark.django_db(transaction=True)
def test_the_daily_task_returns_what_it_did_as_json(settings: Any) -> None:
    settings.MEASUREMENT_RETENTION_MONTHS = 0
    done = tasks.maintain_partitions.delay().get()
    assert json.loads(json.dumps(done)) == done
    assert done["dropped"] == [] and done["cutoff"] is None and done["skipped"] is False
    assert "maintain-partitions" in django_settings.CELERY_BEAT_SCHEDULE


@pg
@pytest.mark.django_db(transaction=True)
def test_an_interrupted_detach_is_finished_by_the_next_maintain(cast: Cast, settings: Any) -> None:
    settings.MEASUREMENT_RETENTION_MONTHS = 1
    run = make_run(cast.project)
    partitions.ensure_partitions([t(1999, 1, 10)])
    add(run, t(1999, 1, 10))
    # As if a previous run had detached the month and stopped before dropping it.
    with partitions._ddl_connection() as conn:
        conn.execute("ALTER TABLE api_measurement DETACH PARTITION api_measurement_p1999_01")
    done = partitions.maintain(now=t(1999, 3, 5))
    assert dropped_in(done, 1999) == [(date(1999, 1, 1), 1)]
    assert DroppedPartition.objects.get(month=date(1999, 1, 1)).measurement_count == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('api_measurement_p1999_01')")
        assert cursor.fetchone()[0] is None


@pg
@pytest.mark.django_db
def test_maintain_refuses_to_drop_inside_a_transaction_that_used_measurements(
    cast: Cast, settings: Any
) -> None:
    settings.MEASUREMENT_RETENTION_MONTHS = 1
    Measurement.objects.filter(run__project=cast.project).count()
    with pytest.raises(RuntimeError, match="outside"):
        partitions.maintain(now=t(2004, 6, 1))


@pytest.mark.django_db
def test_retention_without_partitions_deletes_old_rows_and_records_them(cast: Cast) -> None:
    """The SQLite path (an ORM delete), which also runs on PostgreSQL."""
    run = make_run(cast.project)
    partitions.ensure_partitions([t(2005, 1, 3), t(2005, 2, 3), t(2005, 3, 1)])
    add(run, t(2005, 1, 3))
    add(run, t(2005, 2, 3, 8), seconds=1800)
    kept = add(run, t(2005, 3, 1))
    dropped = partitions._delete_before(date(2005, 3, 1))
    assert [(d["month"], d["measurement_count"]) for d in dropped] == [
        (date(2005, 1, 1), 1),
        (date(2005, 2, 1), 1),
    ]
    assert list(Measurement.objects.filter(run=run)) == [kept]
    assert partitions.raw_complete_from() == t(2005, 2, 3, 9)
    add(run, t(2005, 1, 4))  # late data
    partitions._delete_before(date(2005, 3, 1))
    assert DroppedPartition.objects.get(month=date(2005, 1, 1)).measurement_count == 2


# --- raw_complete_from ------------------------------------------------------------------


@pytest.mark.django_db
def test_raw_complete_from_is_the_hour_after_the_latest_dropped_end() -> None:
    assert partitions.raw_complete_from() is None
    DroppedPartition.objects.create(month=date(2010, 1, 1), measurement_count=0)
    assert partitions.raw_complete_from() is None  # an empty month lost nothing
    DroppedPartition.objects.create(
        month=date(2010, 2, 1), measurement_count=5, latest_end=t(2010, 3, 1, 10, 20)
    )
    assert partitions.raw_complete_from() == t(2010, 3, 1, 11)
    DroppedPartition.objects.create(
        month=date(2010, 3, 1), measurement_count=1, latest_end=t(2010, 3, 31, 23)
    )
    assert partitions.raw_complete_from() == t(2010, 3, 31, 23)  # on the hour


# --- the migration ----------------------------------------------------------------------


@pg
@pytest.mark.django_db(transaction=True)
def test_the_migration_copies_rows_into_monthly_partitions_and_back() -> None:
    before = [("api", "0007_existing_figures_on_one_basis")]
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(before)
    try:
        apps = executor.loader.project_state(before).apps
        org = apps.get_model("api", "Organisation").objects.create(name="Old")
        project = apps.get_model("api", "Project").objects.create(organisation=org, name="p")
        exp = apps.get_model("api", "Experiment").objects.create(project=project, name="e")
        factor = apps.get_model("api", "EmissionFactor").objects.create(
            dataset_version="t", zone="FRA", g_per_kwh=50, year=2024, source="t"
        )
        run = apps.get_model("api", "Run").objects.create(
            project=project, experiment=exp, run_key="r", zone="FRA", zone_label="FRA",
            pue=1.2, factor=factor,
        )  # fmt: skip
        model = apps.get_model("api", "Measurement")
        for start in (t(2019, 1, 31, 23), t(2019, 2, 1), t(2019, 2, 15)):
            model.objects.create(
                uuid=uuid.uuid4(), run=run, start=start, end=start + timedelta(hours=1),
                duration_s=3600, pue=1.2, intensity_g_per_kwh=50, emissions_kg=0, factor=factor,
            )  # fmt: skip
        last_id = model.objects.order_by("-id").values_list("id", flat=True)[0]

        MigrationExecutor(connection).migrate(latest)

        assert {date(2019, 1, 1), date(2019, 2, 1)} <= set(partitions.partition_months())
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT tableoid::regclass::text, count(*) FROM api_measurement "
                "GROUP BY 1 ORDER BY 1"
            )
            assert cursor.fetchall() == [
                ("api_measurement_p2019_01", 1),
                ("api_measurement_p2019_02", 2),
            ]
            cursor.execute(
                "SELECT count(*) FROM pg_constraint WHERE conrelid = "
                "'api_measurement'::regclass AND contype = 'c'"
            )
            assert cursor.fetchone()[0] == 4  # rank, seq, gpu_count, epoch >= 0
        fresh = add(Run.objects.get(run_key="r"), t(2019, 2, 16))
        assert fresh.pk > last_id
    finally:
        MigrationExecutor(connection).migrate(latest)
