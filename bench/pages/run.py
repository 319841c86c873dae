"""Server time of every dashboard page over a large organisation.

Builds (once, then reuses) a PostgreSQL database ``emissions_hub_bench`` holding one
organisation with 20 projects, 200 experiments, 10,000 runs and 1,000,000 measurements,
with the UsageHour aggregates and per-run totals computed from those measurements by
SQL exactly as ingestion would have, then requests each page repeatedly through
Django's test client in-process and prints p50 and p95 per page.

    .venv/bin/python bench/pages/run.py [--requests 30] [--rebuild]

BENCH_DATABASE_URL overrides the database (default
postgres://postgres@127.0.0.1:5432/emissions_hub_bench). Exit status 1 when a page's
p95 is above the budget (300 ms).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

DB_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/emissions_hub_bench"
)
# Production-like settings: DEBUG off (no query log, no debug pages).
os.environ["DATABASE_URL"] = DB_URL
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production")
os.environ.setdefault("SECURE_COOKIES", "0")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["DJANGO_SETTINGS_MODULE"] = "emissions_hub.settings"

ORG_NAME = "Bench Org"
PROJECTS = 20
EXPERIMENTS_PER_PROJECT = 10
RUNS = 10_000
INTERVALS_PER_RUN = 100  # 1,000,000 measurements
INTERVAL_S = 60
SPAN_DAYS = 365
BUDGET_MS = 300.0

# Where the bench projects run: a mix of countries, sub-national zones, cloud regions and
# one project that never says (world average, "location unknown").
LOCATIONS: list[dict[str, str]] = [
    {"country": "FRA"},
    {"country": "DEU"},
    {"country": "USA", "region": "CA"},
    {"country": "POL"},
    {"cloud_provider": "aws", "cloud_region": "us-east-1"},
    {"cloud_provider": "gcp", "cloud_region": "europe-west1"},
    {"cloud_provider": "azure", "cloud_region": "westeurope"},
    {"country": "SWE"},
    {"country": "IND"},
    {},
]


def ensure_database() -> None:
    import psycopg

    url = urlparse(DB_URL)
    name = url.path.lstrip("/")
    admin = url._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def build(rebuild: bool) -> None:
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection, transaction

    from api.accounting import place
    from api.models import Experiment, Membership, Organisation, Project, Run

    call_command("migrate", verbosity=0)
    org = Organisation.objects.filter(name=ORG_NAME).first()
    if org is not None and not rebuild:
        runs = Run.objects.filter(project__organisation=org).count()
        if runs >= RUNS:
            print(f"reusing {DB_URL}: {runs:,} runs")
            return
    if org is not None:
        org.delete()
    started = time.perf_counter()
    with transaction.atomic():
        org = Organisation.objects.create(name=ORG_NAME)
        user, _ = User.objects.get_or_create(username="bench-owner")
        Membership.objects.create(user=user, organisation=org, role="owner")
        for i in range(PROJECTS):
            loc = LOCATIONS[i % len(LOCATIONS)]
            project = Project.objects.create(organisation=org, name=f"project-{i:02d}", **loc)
            placement = place(
                country=loc.get("country"),
                region=loc.get("region"),
                cloud_provider=loc.get("cloud_provider"),
                cloud_region=loc.get("cloud_region"),
                pue=None,
            )
            for e in range(EXPERIMENTS_PER_PROJECT):
                Experiment.objects.create(project=project, name=f"exp-{e}")
            # The placement of each project, for the SQL below.
            with connection.cursor() as cur:
                cur.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS bench_place (project_id bigint, ord int,"
                    " country text, region text, cloud_provider text, cloud_region text,"
                    " zone text, zone_label text, location_known bool, pue float8,"
                    " factor_id bigint, gkwh float8) ON COMMIT DROP"
                )
                cur.execute(
                    "INSERT INTO bench_place VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                    [
                        project.pk,
                        i,
                        placement.country,
                        placement.region,
                        placement.cloud_provider,
                        placement.cloud_region,
                        placement.zone,
                        placement.zone_label,
                        placement.location_known,
                        placement.pue,
                        placement.factor.pk,
                        placement.factor.g_per_kwh,
                    ],
                )
        with connection.cursor() as cur:
            cur.execute("SELECT setseed(0.42)")
            # Runs: spread evenly over the last year, newest last; a few still running.
            cur.execute(
                f"""
                INSERT INTO api_run (uuid, project_id, experiment_id, run_key, name, status, source,
                    created, started_at, ended_at, last_seen_at, hardware, software, params, metrics,
                    tags, node_count, rank_count, country, region, cloud_provider, cloud_region, zone,
                    zone_label, location_known, pue, factor_id, energy_kwh, cpu_energy_kwh,
                    gpu_energy_kwh, ram_energy_kwh, measured_energy_kwh, emissions_kg, duration_s,
                    gpu_hours, measurement_count)
                SELECT gen_random_uuid(), p.project_id, x.id, 'run-' || g, '',
                    CASE WHEN g > {RUNS} - 5 THEN 'running'
                         WHEN g % 20 = 0 THEN 'failed' WHEN g % 50 = 1 THEN 'lost'
                         ELSE 'finished' END,
                    'tracker_client', t, t, NULL, t + interval '{INTERVALS_PER_RUN * INTERVAL_S} seconds',
                    '{{"gpu_model": "NVIDIA A100", "gpu_count": 1}}'::jsonb, '{{}}'::jsonb,
                    jsonb_build_object('lr', round((random() * 0.1)::numeric, 4)),
                    jsonb_build_object('accuracy', round((0.6 + random() * 0.35)::numeric, 4)),
                    '[]'::jsonb, 1, 1, p.country, p.region, p.cloud_provider, p.cloud_region,
                    p.zone, p.zone_label, p.location_known, p.pue, p.factor_id,
                    0, 0, 0, 0, 0, 0, 0, 0, 0
                FROM generate_series(1, {RUNS}) AS g
                CROSS JOIN LATERAL (SELECT now() - interval '{SPAN_DAYS} days'
                    + (g::float8 / {RUNS}) * interval '{SPAN_DAYS - 1} days' AS t) AS tt
                JOIN bench_place p ON p.ord = g % {PROJECTS}
                JOIN LATERAL (SELECT id FROM api_experiment e WHERE e.project_id = p.project_id
                    ORDER BY id OFFSET (g / {PROJECTS}) % {EXPERIMENTS_PER_PROJECT} LIMIT 1) x ON true
                WHERE g > 0
                """
            )
            cur.execute(
                f"""
                INSERT INTO api_measurement (uuid, run_id, node, rank, seq, start, "end", duration_s,
                    cpu_energy_kwh, gpu_energy_kwh, ram_energy_kwh, cpu_power_w, gpu_power_w,
                    ram_power_w, cpu_method, gpu_method, ram_method, gpu_count, pue,
                    intensity_g_per_kwh, emissions_kg, factor_id, received)
                SELECT gen_random_uuid(), r.id, 'node-0', 0, k,
                    r.started_at + k * interval '{INTERVAL_S} seconds',
                    r.started_at + (k + 1) * interval '{INTERVAL_S} seconds', {INTERVAL_S},
                    e.cpu, e.gpu, e.ram, e.cpu * {3_600_000 / INTERVAL_S}, e.gpu * {3_600_000 / INTERVAL_S},
                    e.ram * {3_600_000 / INTERVAL_S}, 'rapl', 'nvml_energy', 'constant', 1, r.pue,
                    p.gkwh, (e.cpu + e.gpu + e.ram) * r.pue * p.gkwh / 1000.0, r.factor_id, now()
                FROM api_run r
                JOIN bench_place p ON p.project_id = r.project_id
                CROSS JOIN generate_series(0, {INTERVALS_PER_RUN - 1}) AS k
                CROSS JOIN LATERAL (SELECT 0.0008 + random() * 0.0004 + k * 0 AS cpu,
                    0.004 + random() * 0.003 + k * 0 AS gpu, 0.0001 + k * 0 AS ram) AS e
                JOIN api_project pr ON pr.id = r.project_id AND pr.organisation_id = %s
                """,
                [org.pk],
            )
            # Per-run totals and the hourly aggregates, as ingestion keeps them.
            cur.execute(
                """
                UPDATE api_run r SET energy_kwh = s.e, cpu_energy_kwh = s.cpu,
                    gpu_energy_kwh = s.gpu, ram_energy_kwh = s.ram, measured_energy_kwh = s.cpu + s.gpu,
                    emissions_kg = s.kg, duration_s = s.d, gpu_hours = s.gh, measurement_count = s.n,
                    first_start = s.fs, last_end = s.le,
                    ended_at = CASE WHEN r.status = 'running' THEN NULL ELSE s.le END
                FROM (SELECT run_id, sum(cpu_energy_kwh + gpu_energy_kwh + ram_energy_kwh) e,
                        sum(cpu_energy_kwh) cpu, sum(gpu_energy_kwh) gpu, sum(ram_energy_kwh) ram,
                        sum(emissions_kg) kg, sum(duration_s) d, sum(gpu_count * duration_s / 3600.0) gh,
                        count(*) n, min(start) fs, max("end") le
                      FROM api_measurement GROUP BY run_id) s
                WHERE r.id = s.run_id
                """
            )
            cur.execute(
                """
                INSERT INTO api_usagehour (project_id, hour, zone, cloud_provider, cloud_region,
                    factor_id, pue, location_known, energy_kwh, cpu_energy_kwh, gpu_energy_kwh,
                    ram_energy_kwh, measured_energy_kwh, imported_energy_kwh, facility_energy_kwh,
                    emissions_kg, gpu_hours, duration_s, measurement_count)
                SELECT r.project_id, date_trunc('hour', m.start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                    r.zone, r.cloud_provider, r.cloud_region, r.factor_id, r.pue, r.location_known,
                    sum(m.cpu_energy_kwh + m.gpu_energy_kwh + m.ram_energy_kwh), sum(m.cpu_energy_kwh),
                    sum(m.gpu_energy_kwh), sum(m.ram_energy_kwh), sum(m.cpu_energy_kwh + m.gpu_energy_kwh),
                    0, sum((m.cpu_energy_kwh + m.gpu_energy_kwh + m.ram_energy_kwh) * r.pue),
                    sum(m.emissions_kg), sum(m.gpu_count * m.duration_s / 3600.0), sum(m.duration_s),
                    count(*)
                FROM api_measurement m JOIN api_run r ON r.id = m.run_id
                GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
                """
            )
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    print(f"built {DB_URL} in {time.perf_counter() - started:.0f} s")


def measure(requests: int) -> int:
    from django.contrib.auth.models import User
    from django.test import Client

    from api.models import Experiment, Organisation, Project, Run

    org = Organisation.objects.get(name=ORG_NAME)
    user = User.objects.get(username="bench-owner")
    project = Project.objects.filter(organisation=org).order_by("name").first()
    assert project is not None
    if not project.public_token:
        project.public_token = "bench-public-token"
        project.save(update_fields=["public_token"])
    busiest = Experiment.objects.filter(project=project).order_by("-runs__emissions_kg").first()
    assert busiest is not None
    running = Run.objects.filter(project__organisation=org, status="running").first()
    biggest = Run.objects.filter(project=project).order_by("-measurement_count").first()
    assert running is not None and biggest is not None
    counts = {
        "runs": Run.objects.filter(project__organisation=org).count(),
        "measurements": sum(
            Run.objects.filter(project__organisation=org).values_list(
                "measurement_count", flat=True
            )
        ),
    }
    print(f"dataset: {counts['runs']:,} runs, {counts['measurements']:,} measurements")
    o = f"/o/{org.uuid}"
    pages = {
        "overview (this quarter)": f"{o}/",
        "overview (this year)": f"{o}/?period=this_year",
        "overview (last 30 days)": f"{o}/?period=30d",
        "project (this quarter)": f"{o}/projects/{project.uuid}/",
        "project (this year)": f"{o}/projects/{project.uuid}/?period=this_year",
        "experiment": f"{o}/experiments/{busiest.uuid}/",
        "run": f"{o}/runs/{biggest.uuid}/",
        "run live.json": f"{o}/runs/{running.uuid}/live.json",
        "settings": f"{o}/settings/",
        "project settings": f"{o}/projects/{project.uuid}/settings/",
        "public project": f"/p/{project.public_token}/",
    }
    client = Client()
    client.force_login(user)
    failures = 0
    print(f"{'page':28} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  (n={requests})")
    for name, url in pages.items():
        for _ in range(3):  # warm caches (dataset loading, template compilation)
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
        times = []
        for _ in range(requests):
            t0 = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - t0) * 1000.0)
            assert response.status_code == 200
        times.sort()
        p50 = statistics.median(times)
        p95 = times[max(0, round(0.95 * len(times)) - 1)]
        flag = "" if p95 <= BUDGET_MS else f"  over {BUDGET_MS:.0f} ms"
        failures += bool(flag)
        print(f"{name:28} {p50:8.1f} {p95:8.1f} {times[-1]:8.1f}{flag}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page")
    parser.add_argument("--rebuild", action="store_true", help="regenerate the dataset")
    args = parser.parse_args(argv)
    ensure_database()
    import django

    django.setup()
    build(args.rebuild)
    failures = measure(args.requests)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
