"""Raw measurements in monthly partitions (PostgreSQL), retention records, leaner indexes.

State (both databases): Measurement's one key is UNIQUE (run, start, uuid), replacing
UNIQUE (run, uuid) and the (run, start) and (start) indexes; Run loses its emissions index
and its lost-run index becomes a partial index on status; DroppedPartition is new.

PostgreSQL: api_measurement is rebuilt as a table PARTITION BY RANGE ("start") with one
partition api_measurement_pYYYY_MM per UTC month that has rows, plus the current month and
the next API_PARTITIONS_AHEAD_MONTHS (api.partitions creates later ones). Same columns,
types, defaults and CHECK constraints; ``id`` keeps a sequence default that continues the
old numbering but is no longer a primary key (a unique key of a partitioned table must
hold the partition key), and the only index is UNIQUE (run_id, start, uuid). The table has
no foreign-key constraints: see api.partitions for why. Existing rows are copied while
writes to the table wait (reads go on). api_run gets fillfactor 70, so that updates of run
totals can be HOT.

SQLite: the plain Django operations, no partitioning.

Reversible: going back rebuilds a plain table with its primary key, foreign keys and old
indexes (it fails if a run holds two measurements with one uuid, which the old key forbade).
Retention records are dropped with their table; dropped raw data does not come back.
"""

from datetime import UTC, date, datetime

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

TABLE = "api_measurement"


def _forget_cache():
    """This process's cache of partitions is wrong once the table is rebuilt."""
    try:
        from api.partitions import forget
    except ImportError:
        return
    forget()


def _add_months(month, n):
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def _bound(month):
    return "'" + datetime(month.year, month.month, 1, tzinfo=UTC).isoformat() + "'"


class NotOnPostgreSQL(migrations.SeparateDatabaseAndState):
    """Operations whose state always applies, but whose database side runs everywhere but
    on PostgreSQL, where ``partition`` builds the table in its final shape."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


def partition(apps, schema_editor):
    """Rebuild api_measurement as a monthly-partitioned table (PostgreSQL only)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    qn = schema_editor.quote_name
    model = apps.get_model("api", "Measurement")
    cols = ", ".join(qn(f.column) for f in model._meta.local_concrete_fields)
    ahead = int(getattr(settings, "API_PARTITIONS_AHEAD_MONTHS", 3))
    now = timezone.now().astimezone(UTC)
    current = date(now.year, now.month, 1)
    with schema_editor.connection.cursor() as cursor:
        # Writers wait until the new table is in place; readers go on until the DROP.
        cursor.execute(f"LOCK TABLE {TABLE} IN EXCLUSIVE MODE")
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE])
        old_seq = cursor.fetchone()[0]
        cursor.execute(f"SELECT last_value, is_called FROM {old_seq}")  # noqa: S608
        last_value, is_called = cursor.fetchone()
        cursor.execute(
            f"SELECT DISTINCT date_trunc('month', \"start\", 'UTC') FROM {TABLE}"  # noqa: S608
        )
        months = {ts.astimezone(UTC).date() for (ts,) in cursor.fetchall()}
        months.update(_add_months(current, i) for i in range(ahead + 1))

        cursor.execute(f"CREATE SEQUENCE {TABLE}_id_seq_new")
        cursor.execute(
            f"CREATE TABLE {TABLE}_new (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
            'PARTITION BY RANGE ("start")'
        )
        cursor.execute(
            f"ALTER TABLE {TABLE}_new ALTER COLUMN id SET DEFAULT nextval('{TABLE}_id_seq_new')"
        )
        cursor.execute(f"ALTER SEQUENCE {TABLE}_id_seq_new OWNED BY {TABLE}_new.id")
        cursor.execute(f"SELECT setval('{TABLE}_id_seq_new', %s, %s)", [last_value, is_called])
        for month in sorted(months):
            cursor.execute(
                f"CREATE TABLE {TABLE}_p{month:%Y_%m} PARTITION OF {TABLE}_new "
                f"FOR VALUES FROM ({_bound(month)}) TO ({_bound(_add_months(month, 1))})"
            )
        cursor.execute(f"INSERT INTO {TABLE}_new ({cols}) SELECT {cols} FROM {TABLE}")  # noqa: S608
        # Drops the old table's identity sequence with it.
        cursor.execute(f"DROP TABLE {TABLE}")
        cursor.execute(f"ALTER TABLE {TABLE}_new RENAME TO {TABLE}")
        cursor.execute(f"ALTER SEQUENCE {TABLE}_id_seq_new RENAME TO {TABLE}_id_seq")
        # Built once after the copy; every partition gets its own index.
        cursor.execute(
            f"ALTER TABLE {TABLE} ADD CONSTRAINT api_measurement_unique_run_start_uuid "
            'UNIQUE (run_id, "start", uuid)'
        )
        cursor.execute("ALTER TABLE api_run SET (fillfactor = 70)")
        cursor.execute(f"ANALYZE {TABLE}")
    _forget_cache()


def unpartition(apps, schema_editor):
    """Rebuild api_measurement as the plain table of migration 0007 (PostgreSQL only)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    qn = schema_editor.quote_name
    model = apps.get_model("api", "Measurement")
    cols = ", ".join(qn(f.column) for f in model._meta.local_concrete_fields)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE} IN EXCLUSIVE MODE")
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE])
        seq = cursor.fetchone()[0]
        cursor.execute(
            f"CREATE TABLE {TABLE}_plain (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
        # Keep the sequence (and its numbering) when the partitioned table goes.
        cursor.execute(f"ALTER SEQUENCE {seq} OWNED BY {TABLE}_plain.id")
        cursor.execute(f"INSERT INTO {TABLE}_plain ({cols}) SELECT {cols} FROM {TABLE}")  # noqa: S608
        cursor.execute(f"DROP TABLE {TABLE}")  # and its partitions
        cursor.execute(f"ALTER TABLE {TABLE}_plain RENAME TO {TABLE}")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id)")
        for name in ("run", "factor"):
            field = model._meta.get_field(name)
            cursor.execute(
                str(schema_editor._create_fk_sql(model, field, "_fk_%(to_table)s_%(to_column)s"))
            )
            cursor.execute(str(schema_editor._create_index_sql(model, fields=[field])))
        cursor.execute(
            f"ALTER TABLE {TABLE} ADD CONSTRAINT api_measurement_unique_run_uuid "
            "UNIQUE (run_id, uuid)"
        )
        cursor.execute(f'CREATE INDEX api_measurement_run_start ON {TABLE} (run_id, "start")')
        cursor.execute(f'CREATE INDEX api_measurement_start ON {TABLE} ("start")')
        cursor.execute("ALTER TABLE api_run RESET (fillfactor)")
    _forget_cache()


MEASUREMENT_KEYS = [
    migrations.RemoveConstraint(
        model_name="measurement",
        name="api_measurement_unique_run_uuid",
    ),
    migrations.RemoveIndex(
        model_name="measurement",
        name="api_measurement_run_start",
    ),
    migrations.RemoveIndex(
        model_name="measurement",
        name="api_measurement_start",
    ),
    migrations.AddConstraint(
        model_name="measurement",
        constraint=models.UniqueConstraint(
            fields=("run", "start", "uuid"), name="api_measurement_unique_run_start_uuid"
        ),
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0007_existing_figures_on_one_basis"),
    ]

    operations = [
        migrations.CreateModel(
            name="DroppedPartition",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("month", models.DateField(unique=True)),
                ("dropped_at", models.DateTimeField(default=timezone.now)),
                ("measurement_count", models.BigIntegerField()),
                ("latest_end", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "ordering": ["month"],
            },
        ),
        migrations.RemoveIndex(
            model_name="run",
            name="api_run_project_emissions",
        ),
        migrations.RemoveIndex(
            model_name="run",
            name="api_run_running_last_seen",
        ),
        migrations.AddIndex(
            model_name="run",
            index=models.Index(
                condition=models.Q(("status", "running")),
                fields=["status"],
                name="api_run_running",
            ),
        ),
        NotOnPostgreSQL(database_operations=MEASUREMENT_KEYS, state_operations=MEASUREMENT_KEYS),
        migrations.RunPython(partition, unpartition),
    ]
