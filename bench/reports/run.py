"""Benchmark: generate a quarter's report (PDF, CSV, XLSX, JSON) for an organisation
with at least one million measurements.

Uses its own PostgreSQL database (``emissions_hub_bench_reports`` by default, or
``BENCH_REPORTS_DATABASE_URL``), seeded once with bulk SQL and reused afterwards:
runs by the hub's ``api.ingest``, measurements by ``INSERT ... SELECT generate_series``
into its table, then the hourly aggregates and run totals by the hub's own
``rebuild_aggregates``. Target: under 10 seconds.

    .venv/bin/python bench/reports/run.py [--runs 1000] [--per-run 1000] [--reseed]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/emissions_hub_bench_reports"
ORG_NAME = "Bench Reports Org"
QUARTER = "2025Q3"
TARGET_S = 10.0

# (project name suffix, location of the project, hosting): a spread of zones, providers
# and scopes so every section of the report has rows.
LOCATIONS = [
    ({"country": "FRA"}, "owned"),
    ({"cloud_provider": "gcp", "cloud_region": "europe-west4"}, "cloud"),
    ({"cloud_provider": "aws", "cloud_region": "us-west-1"}, "cloud"),
    ({"country": "DEU"}, "colocated"),
    ({}, "owned"),  # location unknown: world average
]


def _ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def _setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emissions_hub.settings")
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _seed(runs: int, per_run: int) -> None:
    from common import ensure_partitions, parse_quarter, previous
    from django.core.management import call_command
    from django.db import connection, transaction

    from api import ingest
    from api.models import Organisation, Project
    from reports.models import ContractualInstrument

    period = parse_quarter(QUARTER)
    before = previous(period)
    print(ensure_partitions(os.environ["DATABASE_URL"], before.start, period.end))
    print(
        f"seeding {runs} runs x {per_run} measurements in {QUARTER} (+10 % in the quarter before, from {before.start:%Y-%m-%d}) ...",
        flush=True,
    )
    t0 = time.perf_counter()
    with transaction.atomic():
        Organisation.objects.filter(name=ORG_NAME).delete()
        org = Organisation.objects.create(name=ORG_NAME)
        projects = []
        for i in range(20):
            loc, hosting = LOCATIONS[i % len(LOCATIONS)]
            projects.append(
                Project.objects.create(
                    organisation=org, name=f"project-{i:02d}", hosting=hosting, **loc
                )
            )
        span = (period.end - period.start).total_seconds() - per_run * 60
        extra = max(runs // 10, 1)
        for n in range(runs + extra):
            in_quarter = n < runs
            base = period.start if in_quarter else before.start
            offset = span * ((n if in_quarter else n - runs) / (runs if in_quarter else extra))
            ingest.get_or_create_run(
                projects[n % len(projects)],
                {
                    "run_key": f"run-{n:05d}",
                    "name": f"run-{n:05d}",
                    "experiment": f"exp-{n % 7}",
                    "started_at": base + timedelta(seconds=int(offset)),
                    "hardware": {"gpu_model": "NVIDIA H100 80GB HBM3", "gpu_count": 4},
                },
            )
        ContractualInstrument.objects.create(
            organisation=org,
            kind="ppa",
            zone="DEU",
            period_start="2025-01-01",
            period_end="2025-12-31",
            mwh=2.0,
            notes="bench PPA",
        )
        ContractualInstrument.objects.create(
            organisation=org,
            kind="go",
            zone="NLD",
            period_start="2025-07-01",
            period_end="2025-09-30",
            share_pct=30.0,
        )
        org_id = org.pk
    print(f"  runs created in {time.perf_counter() - t0:.1f} s", flush=True)
    t1 = time.perf_counter()
    runs_of_org = "SELECT r.id FROM api_run r JOIN api_project p ON p.id = r.project_id WHERE p.organisation_id = %s"
    with connection.cursor() as cur:
        cur.execute(
            f"""
            INSERT INTO api_measurement (uuid, run_id, node, rank, seq, start, "end", duration_s,
                cpu_energy_kwh, gpu_energy_kwh, ram_energy_kwh, cpu_method, gpu_method, ram_method,
                gpu_count, pue, intensity_g_per_kwh, emissions_kg, factor_id, received)
            SELECT gen_random_uuid(), r.id, 'node-0', 0, g,
                r.started_at + g * interval '60 seconds', r.started_at + (g + 1) * interval '60 seconds', 60.0,
                e.cpu, e.gpu, e.ram,
                CASE WHEN r.id %% 13 = 0 THEN 'imported' WHEN r.id %% 5 = 0 THEN 'tdp_model' ELSE 'rapl' END,
                CASE WHEN r.id %% 13 = 0 THEN 'imported' WHEN r.id %% 5 = 0 THEN 'tdp_model' ELSE 'nvml_energy' END,
                CASE WHEN r.id %% 13 = 0 THEN 'imported' ELSE 'constant' END,
                4, r.pue, f.g_per_kwh, (e.cpu + e.gpu + e.ram) * r.pue * f.g_per_kwh / 1000.0, r.factor_id, now()
            FROM api_run r
            JOIN api_emissionfactor f ON f.id = r.factor_id
            CROSS JOIN generate_series(0, %s) AS g
            CROSS JOIN LATERAL (SELECT 0.0005 + (g %% 7) * 0.0001 AS cpu,
                                       0.004 + ((g + r.id) %% 11) * 0.0005 AS gpu,
                                       0.0002 AS ram) AS e
            WHERE r.id IN ({runs_of_org})
            """,
            [per_run - 1, org_id],
        )
        print(f"  {cur.rowcount:,} measurements in {time.perf_counter() - t1:.1f} s", flush=True)
        cur.execute(
            f"""
            UPDATE api_run r SET
                status = CASE WHEN r.id %% 17 = 0 THEN 'lost' ELSE 'finished' END,
                ended_at = r.started_at + %s * interval '60 seconds',
                last_seen_at = r.started_at + %s * interval '60 seconds'
            WHERE r.id IN ({runs_of_org})
            """,
            [per_run, per_run, org_id],
        )
    # The hourly aggregates and run totals, by the hub's own code.
    t2 = time.perf_counter()
    with connection.cursor() as cur:
        # Statistics first, as autovacuum would after such a load, for the rebuild's plans.
        cur.execute("ANALYZE api_measurement, api_run")
    call_command("rebuild_aggregates", org=ORG_NAME, stdout=io.StringIO())
    print(f"  rebuild_aggregates in {time.perf_counter() - t2:.1f} s", flush=True)
    with connection.cursor() as cur:
        cur.execute("ANALYZE api_measurement; ANALYZE api_usagehour; ANALYZE api_run;")
    print(f"  seeded in {time.perf_counter() - t0:.1f} s", flush=True)


def _measurement_count() -> int:
    from api.models import Measurement

    return Measurement.objects.filter(run__project__organisation__name=ORG_NAME).count()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1000, help="runs in the quarter (default 1000)")
    parser.add_argument(
        "--per-run", type=int, default=1000, help="measurements per run (default 1000)"
    )
    parser.add_argument(
        "--reseed", action="store_true", help="rebuild the dataset even if it exists"
    )
    args = parser.parse_args()
    url = os.environ.get("BENCH_REPORTS_DATABASE_URL", DEFAULT_URL)
    _ensure_database(url)
    _setup(url)

    from common import parse_quarter, time_report

    from api.models import Organisation

    wanted = args.runs * args.per_run
    count = _measurement_count() if Organisation.objects.filter(name=ORG_NAME).exists() else 0
    if args.reseed or count < wanted:
        _seed(args.runs, args.per_run)
        count = _measurement_count()
    else:
        print(f"reusing the dataset in {url.rsplit('/', 1)[1]}")
    org = Organisation.objects.get(name=ORG_NAME)
    period = parse_quarter(QUARTER)
    elapsed, data, sizes = time_report(org, period.start, period.end, f"Bench {QUARTER}")
    print(
        f"organisation measurements: {count:,}; in {QUARTER}: {data['totals']['measurement_count']:,}"
    )
    print(
        f"report {QUARTER} (PDF, CSV, XLSX, JSON): {elapsed:.2f} s (target < {TARGET_S:.0f} s); files: {sizes}"
    )
    return 0 if elapsed < TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
