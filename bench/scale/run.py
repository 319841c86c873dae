"""Reads at scale: API totals and series, every dashboard page, a quarterly report and a
big run's page, on two sizes of the same fleet, and how they grow from one to the other.

For each size (full: 1 million and 10 million measurements; ``--quick``: 100,000 and
1 million) a PostgreSQL database of its own (``emissions_hub_bench_scale_<size>``) holds
5 organisations, 20 projects, 200 experiments and N/500 runs (at most 2,000: past
1 million measurements the jobs run on more GPUs, N/1M ranks each, as a growing fleet's
do) spread over the last two years (one of them with 100,000 measurements, the newest of
each project still running). Organisations,
projects, experiments and runs are made with the hub's models; measurements are
generated in SQL (``INSERT ... SELECT generate_series``, two connections) straight into
``api_measurement`` (its monthly partitions are made first by the hub's
``api.partitions`` when the table is partitioned); the hourly aggregates and run totals
are then computed by the hub's own ``manage.py rebuild_aggregates``, and the tables
vacuumed and analysed as autovacuum would. The measurements of a database are reused
while its size, the generator and the hub's migrations are unchanged and they are less
than three days old (``--reload`` forces new ones); the aggregates are rebuilt by the
hub's current code on every run.

Then, in process through Django's test client with DEBUG=0, signed in as an owner of the
largest organisation, it times:

- the API: project summary and day series, organisation totals and day series
  (target p95 < 20 ms);
- every dashboard page of bench/pages (target p95 < 150 ms);
- the page of the run with 100,000 measurements (target p95 < 300 ms);
- the organisation's report for the last complete quarter in every format (PDF, CSV,
  XLSX, JSON; target < 5 s);

and prints a table with both sizes and the ratio large / small of each figure (target
<= 1.2). Exit status 1 when a target is missed or the loaded data do not add up.

    .venv/bin/python bench/scale/run.py [--quick] [--sizes 1000000,10000000]
        [--requests 30] [--reload] [--drop]
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import (
    LOCATIONS,
    PG_ADMIN_URL,
    ROOT,
    BenchError,
    database_exists,
    db_url,
    drop_database,
    ensure_partitions,
    hub_env,
    manage,
    migrate,
    p,
    page_urls,
    say,
    time_get,
    time_report,
)

GENERATOR_VERSION = "scale-2"  # 2: jobs grow by ranks past REF_SIZE; the big run keeps one rank
FULL_SIZES = (1_000_000, 10_000_000)
QUICK_SIZES = (100_000, 1_000_000)
BIG_RUN = 100_000
PER_RUN = 500  # about: runs = size / PER_RUN, up to a fleet of REF_SIZE
# Past REF_SIZE measurements the fleet grows as a fleet of GPUs does: the same teams,
# projects and jobs over the same two years, each job on more GPUs (ranks), so 10 million
# is ten times the GPUs of 1 million, not ten times the jobs.
REF_SIZE = 1_000_000
INTERVAL_S = 60
SPAN_DAYS = 730
PROJECTS = 20
EXPERIMENTS_PER_PROJECT = 10
ORG_OF_PROJECT = [0] * 8 + [1] * 3 + [2] * 3 + [3] * 3 + [4] * 3  # org 0 holds 40 % of runs

API_TARGET_MS = 20.0
PAGE_TARGET_MS = 150.0
RUN_PAGE_TARGET_MS = 300.0
REPORT_TARGET_S = 5.0
RATIO_TARGET = 1.2
REUSE_DAYS = 3


def size_label(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def db_name(n: int) -> str:
    return f"emissions_hub_bench_scale_{size_label(n).lower()}"


def big_run_size(n: int) -> int:
    return min(BIG_RUN, n // 4)


# --- the data set (child process, Django set up) -------------------------------------------


def _fingerprint(n: int) -> str:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT app, name FROM django_migrations ORDER BY app, name")
        migrations = ",".join(f"{a}.{m}" for a, m in cur.fetchall())
    # What shapes the data: the generating SQL, the plan and the constants (bump
    # GENERATOR_VERSION for a change elsewhere in load()).
    generator = measurement_insert() + inspect.getsource(_plan)
    shape = repr(
        (BIG_RUN, PER_RUN, REF_SIZE, INTERVAL_S, SPAN_DAYS, PROJECTS, ORG_OF_PROJECT, LOCATIONS)
    )
    text = f"{GENERATOR_VERSION}|{n}|{migrations}|{generator}|{shape}"
    return hashlib.sha256(text.encode()).hexdigest()


def _stored_fingerprint() -> str | None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass('bench_scale_meta')")
        row = cur.fetchone()
        if not row or row[0] is None:
            return None
        cur.execute("SELECT key, value FROM bench_scale_meta")
        meta = dict(cur.fetchall())
    loaded = meta.get("loaded_at")
    # The data are placed relative to the day they were loaded ("this quarter", "the last
    # 30 days"): a data set older than a few days is regenerated.
    if not loaded or datetime.now(UTC) - datetime.fromisoformat(loaded) > timedelta(
        days=REUSE_DAYS
    ):
        return None
    return meta.get("fingerprint")


def _plan(n: int) -> list[tuple[int, int, float]]:
    """(project index, measurements, start offset in days) of every run, oldest first;
    the big run is the first run of project 0."""
    runs = max(40, min(n, REF_SIZE) // PER_RUN)
    big = big_run_size(n)
    rest = n - big
    each, extra = divmod(rest, runs - 1)
    plan: list[tuple[int, int, float]] = []
    for i in range(runs):
        offset = SPAN_DAYS - 1 - (SPAN_DAYS - 2) * (i / runs)
        plan.append((i % PROJECTS, 0, offset))
    # The big run: in project 0, started far enough back to end before today.
    big_offset = big * INTERVAL_S / 86400 + 10
    plan[0] = (0, big, big_offset)
    for i in range(1, runs):
        plan[i] = (plan[i][0], each + (1 if i <= extra else 0), plan[i][2])
    return plan


def measurement_insert() -> str:
    """The SQL that generates the measurements of the runs of ``bench_scale_plan`` whose
    ids lie between its two parameters."""
    try:
        from carbon.accounting import emissions_sql
    except ImportError:  # an older hub: the same arithmetic

        def emissions_sql(energy: str, pue: str, g_per_kwh: str) -> str:
            return f"(({energy}) * ({pue}) * ({g_per_kwh}) / 1000.0)"

    energy = "e.cpu + e.gpu + e.ram"
    return f"""
        INSERT INTO api_measurement (uuid, run_id, node, rank, seq, start, "end", duration_s,
            cpu_energy_kwh, gpu_energy_kwh, ram_energy_kwh, cpu_power_w, gpu_power_w,
            ram_power_w, cpu_utilization_pct, gpu_utilization_pct, ram_utilization_pct,
            cpu_method, gpu_method, ram_method, gpu_count, epoch, pue, intensity_g_per_kwh,
            emissions_kg, factor_id, client_intensity_g_per_kwh, client_emissions_kg, received)
        SELECT gen_random_uuid(), r.id, 'node-' || (mod(k, pl.ranks) / 8), mod(k, pl.ranks),
            k / pl.ranks,
            r.started_at + (k / pl.ranks) * interval '{INTERVAL_S} seconds',
            r.started_at + (k / pl.ranks + 1) * interval '{INTERVAL_S} seconds', {INTERVAL_S},
            e.cpu, e.gpu, e.ram, e.cpu * {3_600_000 / INTERVAL_S}, e.gpu * {3_600_000 / INTERVAL_S},
            e.ram * {3_600_000 / INTERVAL_S}, 40 + mod(k, 50), 60 + mod(k, 40), 30,
            m.cpu, m.gpu, m.ram, 1, k / 100, r.pue, f.g_per_kwh,
            {emissions_sql(energy, "r.pue", "f.g_per_kwh")}, r.factor_id,
            CASE WHEN m.cpu = 'imported' THEN f.g_per_kwh END,
            CASE WHEN m.cpu = 'imported' THEN {emissions_sql(energy, "1.0", "f.g_per_kwh")} END,
            r.started_at + (k / pl.ranks + 1) * interval '{INTERVAL_S} seconds'
                + interval '5 seconds'
        FROM bench_scale_plan pl
        JOIN api_run r ON r.id = pl.run_id
        JOIN api_emissionfactor f ON f.id = r.factor_id
        CROSS JOIN LATERAL (SELECT
            CASE WHEN mod(r.id, 13) = 0 THEN 'imported' WHEN mod(r.id, 5) = 0 THEN 'tdp_model'
                 ELSE 'rapl' END AS cpu,
            CASE WHEN mod(r.id, 13) = 0 THEN 'imported' WHEN mod(r.id, 5) = 0 THEN 'tdp_model'
                 ELSE 'nvml_energy' END AS gpu,
            CASE WHEN mod(r.id, 13) = 0 THEN 'imported' ELSE 'constant' END AS ram) AS m
        CROSS JOIN LATERAL generate_series(0, pl.n - 1) AS k
        CROSS JOIN LATERAL (SELECT 0.0005::float8 + mod(k * 7 + r.id, 13) * 0.00002::float8 AS cpu,
            0.004::float8 + mod(k + r.id, 11) * 0.0003::float8 AS gpu, 0.0001::float8 AS ram) AS e
        WHERE pl.run_id BETWEEN %s AND %s
    """


def load(n: int, url: str) -> dict[str, float]:
    """Build the data set of ``n`` measurements; seconds per step."""
    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from django.utils import timezone

    from api import ingest
    from api.models import (
        Experiment,
        Membership,
        Organisation,
        Project,
        Run,
        RunSource,
        RunStatus,
    )

    steps: dict[str, float] = {}

    def mark(name: str, since: float) -> None:
        steps[name] = time.perf_counter() - since
        say(f"  {name}: {steps[name]:.1f} s")

    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    plan = _plan(n)
    say(f"  loading {n:,} measurements in {len(plan):,} runs into {url.rsplit('/', 1)[1]}")
    t0 = time.perf_counter()
    first = now - timedelta(days=SPAN_DAYS + 1)
    say(f"  {ensure_partitions(url, first, now + timedelta(days=32))}")
    with transaction.atomic():
        owner, _ = User.objects.get_or_create(username="bench-owner")
        orgs = []
        for o in range(max(ORG_OF_PROJECT) + 1):
            org = Organisation.objects.create(name=f"Scale Org {o}")
            Membership.objects.create(user=owner, organisation=org, role="owner")
            orgs.append(org)
        projects, experiments, placements = [], [], []
        for i in range(PROJECTS):
            loc = LOCATIONS[i % len(LOCATIONS)]
            project = Project.objects.create(
                organisation=orgs[ORG_OF_PROJECT[i]], name=f"project-{i:02d}", **loc
            )
            exps = [
                Experiment.objects.create(project=project, name=f"exp-{e}")
                for e in range(EXPERIMENTS_PER_PROJECT)
            ]
            projects.append(project)
            experiments.append(exps)
            placements.append(ingest.placement_for(project, exps[0], {}))
        runs = []
        for i, (pi, count, offset) in enumerate(plan):
            started = now - timedelta(days=offset)
            place = placements[pi]
            if i >= len(plan) - PROJECTS:  # the newest run of each project
                status = RunStatus.RUNNING
            elif i % 20 == 7:
                status = RunStatus.FAILED
            elif i % 50 == 11:
                status = RunStatus.LOST
            else:
                status = RunStatus.FINISHED
            ended = None if status == RunStatus.RUNNING else started
            runs.append(
                Run(
                    project=projects[pi],
                    experiment=experiments[pi][(i // PROJECTS) % EXPERIMENTS_PER_PROJECT],
                    run_key=f"scale-{i:06d}",
                    name=f"run-{i:06d}",
                    status=status,
                    source=RunSource.CODECARBON if i % 13 == 0 else RunSource.CLIENT,
                    created=started,
                    started_at=started,
                    ended_at=ended,
                    last_seen_at=started
                    + timedelta(
                        seconds=count // (1 if i == 0 else max(1, n // REF_SIZE)) * INTERVAL_S
                    ),
                    hardware={"gpu_model": "NVIDIA A100", "gpu_count": 1},
                    params={"lr": round(0.001 * (1 + i % 9), 4)},
                    metrics={"accuracy": round(0.6 + (i % 35) / 100, 3)},
                    **place.run_fields(),
                )
            )
        Run.objects.bulk_create(runs, batch_size=2000)
        with connection.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS bench_scale_plan")
            cur.execute(
                "CREATE TABLE bench_scale_plan (run_id bigint PRIMARY KEY, n integer, ranks integer)"
            )
            # The big run is the same run at every size (one rank, 100,000 intervals), so
            # its page is compared like for like; the fleet around it grows.
            ranks = max(1, n // REF_SIZE)
            rows = [
                (run.pk, count, 1 if i == 0 else ranks)
                for i, (run, (_, count, _)) in enumerate(zip(runs, plan, strict=True))
            ]
            with cur.cursor.copy("COPY bench_scale_plan (run_id, n, ranks) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    mark("organisations, projects, runs (ORM)", t0)

    # Measurements: SQL only, into the hub's table, in chunks of runs over two connections.
    t1 = time.perf_counter()
    insert = measurement_insert()
    ordered = sorted(rows)
    chunks: list[tuple[int, int]] = []
    lo, acc = ordered[0][0], 0
    for rid, count, _ranks in ordered:
        acc += count
        if acc >= 250_000:
            chunks.append((lo, rid))
            lo, acc = rid + 1, 0
    if acc:
        chunks.append((lo, ordered[-1][0]))
    done = [0]

    def insert_chunk(bounds: tuple[int, int]) -> int:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            cur = conn.execute(insert, bounds)
            before = done[0]
            done[0] += cur.rowcount
            if done[0] * 5 // n != before * 5 // n:  # every fifth
                say(f"    {done[0]:>12,} measurements ({time.perf_counter() - t1:5.0f} s)")
            return cur.rowcount

    with ThreadPoolExecutor(max_workers=2) as pool:
        inserted = sum(pool.map(insert_chunk, chunks))
    if inserted != n:
        raise BenchError(f"inserted {inserted:,} measurements, expected {n:,}")
    mark("measurements (SQL, 2 connections)", t1)
    with connection.cursor() as cur:
        cur.execute("DROP TABLE bench_scale_plan")
        # As autovacuum would soon after such a load; without statistics on the new runs
        # the planner may pick a plan that reads every partition per run.
        cur.execute("ANALYZE api_measurement, api_run, api_experiment, api_project")

    return steps


def agreement() -> dict[str, Any]:
    """Raw measurements, run totals and hourly aggregates, summed."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*), sum(cpu_energy_kwh + gpu_energy_kwh + ram_energy_kwh),"
            " sum(emissions_kg) FROM api_measurement"
        )
        raw = cur.fetchone()
        cur.execute(
            "SELECT sum(measurement_count), sum(energy_kwh), sum(emissions_kg) FROM api_run"
        )
        runs = cur.fetchone()
        cur.execute(
            "SELECT sum(measurement_count), sum(energy_kwh), sum(emissions_kg) FROM api_usagehour"
        )
        hours = cur.fetchone()
        cur.execute("SELECT count(*) FROM api_usagehour")
        hour_rows = cur.fetchone()
        cur.execute("SELECT count(*) FROM api_run")
        run_rows = cur.fetchone()
        # Bytes on disk, indexes and TOAST included: the raw table (all its partitions),
        # the hourly aggregates and the runs.
        cur.execute(
            "SELECT pg_total_relation_size('api_measurement') + coalesce((SELECT"
            " sum(pg_total_relation_size(inhrelid)) FROM pg_inherits"
            " WHERE inhparent = 'api_measurement'::regclass), 0),"
            " pg_total_relation_size('api_usagehour'), pg_total_relation_size('api_run')"
        )
        sizes = cur.fetchone()
    assert raw and runs and hours and hour_rows and run_rows and sizes
    problems = []
    for label, row in (("run totals", runs), ("hourly aggregates", hours)):
        if int(row[0] or 0) != int(raw[0]):
            problems.append(f"{label}: {int(row[0] or 0):,} measurements, raw {int(raw[0]):,}")
        for i, what in ((1, "energy"), (2, "emissions")):
            a, b = float(row[i] or 0), float(raw[i] or 0)
            if abs(a - b) > 1e-9 * max(1.0, abs(b)):
                problems.append(f"{label}: {what} {a!r}, raw {b!r}")
    return {
        "measurements": int(raw[0]),
        "runs": int(run_rows[0]),
        "hour_rows": int(hour_rows[0]),
        "energy_kwh": float(raw[1] or 0),
        "bytes": {"measurements": int(sizes[0]), "hours": int(sizes[1]), "runs": int(sizes[2])},
        "problems": problems,
    }


def last_complete_quarter(now: datetime) -> tuple[datetime, datetime, str]:
    q = (now.month - 1) // 3
    end = datetime(now.year, 3 * q + 1, 1, tzinfo=UTC)
    start = (
        datetime(end.year - 1, 10, 1, tzinfo=UTC) if q == 0 else end.replace(month=end.month - 3)
    )
    label = f"{start.year}Q{(start.month - 1) // 3 + 1}"
    return start, end, label


def measure(requests: int) -> dict[str, Any]:
    from django.contrib.auth.models import User
    from django.test import Client

    from api.models import Organisation, Project, Run

    org = Organisation.objects.get(name="Scale Org 0")
    user = User.objects.get(username="bench-owner")
    project = Project.objects.filter(organisation=org).order_by("name").first()
    assert project is not None
    big = Run.objects.filter(project=project).order_by("-measurement_count").first()
    assert big is not None
    org_runs = Run.objects.filter(project__organisation=org)
    org_measurements = sum(org_runs.values_list("measurement_count", flat=True))
    client = Client()
    client.force_login(user)
    out: dict[str, Any] = {
        "org_runs": org_runs.count(),
        "org_measurements": org_measurements,
        "big_run": big.measurement_count,
        "figures": {},
    }
    figures = out["figures"]

    def timed(kind: str, name: str, url: str, n: int, target: float) -> None:
        times = time_get(client, url, n)
        figures[name] = {
            "kind": kind,
            "p50": p(times, 0.5),
            "p95": p(times, 0.95),
            "max": times[-1],
            "n": n,
            "target": target,
            "unit": "ms",
        }

    # A quarter (what the pages and reports read) and the whole two years of history.
    from api.periods import quarter_of

    q = quarter_of(datetime.now(UTC))
    rng = (
        f"start={q.start.strftime('%Y-%m-%dT%H:%M:%SZ')}&end={q.end.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )
    api = {
        "API project summary (quarter)": f"/api/v1/projects/{project.uuid}/summary?{rng}",
        "API project series (day, quarter)": (
            f"/api/v1/projects/{project.uuid}/series?bucket=day&{rng}"
        ),
        "API organisation (quarter)": f"/api/v1/organisations/{org.uuid}?{rng}",
        "API organisation series (day, quarter)": (
            f"/api/v1/organisations/{org.uuid}/series?bucket=day&{rng}"
        ),
        "API project summary (all time)": f"/api/v1/projects/{project.uuid}/summary",
        "API project series (day, all time)": f"/api/v1/projects/{project.uuid}/series?bucket=day",
        "API organisation (all time)": f"/api/v1/organisations/{org.uuid}",
        "API organisation series (day, all time)": (
            f"/api/v1/organisations/{org.uuid}/series?bucket=day"
        ),
    }
    for name, url in api.items():
        timed("api", name, url, max(requests, 40), API_TARGET_MS)
    for name, url in page_urls(org).items():
        if name == "run":
            timed("run", "run page (biggest run)", url, requests, RUN_PAGE_TARGET_MS)
            figures["run page (biggest run)"]["detail"] = f"{big.measurement_count:,} measurements"
        else:
            timed("page", f"page: {name}", url, requests, PAGE_TARGET_MS)
    start, end, label = last_complete_quarter(datetime.now(UTC))
    elapsed, data, sizes = time_report(org, start, end, f"Scale {label}")
    figures[f"report {label}, all formats"] = {
        "kind": "report",
        "p50": elapsed,
        "p95": elapsed,
        "max": elapsed,
        "n": 1,
        "target": REPORT_TARGET_S,
        "unit": "s",
        "detail": f"{data['totals']['measurement_count']:,} measurements in the quarter; {sizes}",
    }
    return out


def child(n: int, requests: int, reload: bool, out_path: str) -> int:
    name = db_name(n)
    url = db_url(name)
    import psycopg

    if not database_exists(name):
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    migrate(url)
    os.environ.update(hub_env(url))
    os.environ["DJANGO_SETTINGS_MODULE"] = "emissions_hub.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    result: dict[str, Any] = {"size": n, "database": name}
    wanted = _fingerprint(n)
    t0 = time.perf_counter()
    fresh = reload or _stored_fingerprint() != wanted
    if fresh:
        connection.close()
        drop_database(name)
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        migrate(url)
        steps = load(n, url)
    else:
        say(
            f"  reusing the measurements of {name} (same size, generator and migrations,"
            f" loaded less than {REUSE_DAYS} days ago; --reload to regenerate)"
        )
        steps = {}
    # The aggregates always by the hub's code as it is now, then statistics as autovacuum
    # would keep them.
    t1 = time.perf_counter()
    manage(url, "rebuild_aggregates")
    steps["manage.py rebuild_aggregates"] = time.perf_counter() - t1
    say(f"  manage.py rebuild_aggregates: {steps['manage.py rebuild_aggregates']:.1f} s")
    # The running jobs are still reporting: last seen now, or the hub's lost-run sweep
    # (api/lost.py) would rightly call them lost when the data set is hours old.
    from api.models import Run, RunStatus

    Run.objects.filter(status=RunStatus.RUNNING).update(last_seen_at=datetime.now(UTC))
    t2 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        tables = (
            ("api_measurement", "api_run", "api_usagehour")
            if fresh
            else ("api_run", "api_usagehour")
        )
        for table in tables:
            conn.execute(f"VACUUM (ANALYZE) {table}")
    steps["VACUUM (ANALYZE)"] = time.perf_counter() - t2
    result["load_steps"] = steps
    if fresh:
        result["load_s"] = time.perf_counter() - t0
        with connection.cursor() as cur:
            cur.execute("CREATE TABLE bench_scale_meta (key text PRIMARY KEY, value text)")
            cur.execute(
                "INSERT INTO bench_scale_meta VALUES ('fingerprint', %s), ('loaded_at', %s)",
                [wanted, datetime.now(UTC).isoformat()],
            )
    result["data"] = agreement()
    result.update(measure(requests))
    Path(out_path).write_text(json.dumps(result))
    return 0


# --- the parent: one child per size, then the table ----------------------------------------


def fmt(value: float, unit: str) -> str:
    return f"{value:8.2f} s" if unit == "s" else f"{value:7.1f} ms"


def report(results: list[dict[str, Any]]) -> list[str]:
    small, large = results[0], results[-1]
    ls, ll = size_label(small["size"]), size_label(large["size"])
    missed: list[str] = []
    say("")
    for r in results:
        d = r["data"]
        say(
            f"{size_label(r['size'])}: {d['measurements']:,} measurements, {d['runs']:,} runs,"
            f" {d['hour_rows']:,} hourly rows; timed organisation: {r['org_runs']:,} runs,"
            f" {r['org_measurements']:,} measurements"
            + (f"; loaded in {r['load_s']:.0f} s" if "load_s" in r else " (reused)")
        )
        for step, s in (r.get("load_steps") or {}).items():
            say(f"    {step}: {s:.1f} s")
        b, mib = d["bytes"], 1024 * 1024
        per_million = b["measurements"] / mib / max(d["measurements"] / 1e6, 1e-9)
        say(
            f"    on disk: measurements {b['measurements'] / mib:,.0f} MiB"
            f" ({per_million:,.0f} MiB per million, index included), hourly aggregates"
            f" {b['hours'] / mib:,.0f} MiB, runs {b['runs'] / mib:,.0f} MiB"
        )
        for prob in d["problems"]:
            say(f"  DATA DO NOT ADD UP: {prob}")
            missed.append(prob)
    say("")
    head = (
        f"{'figure (p95; report: one run)':44} {ls + ' p50':>10} {ls + ' p95':>10}"
        f" {ll + ' p50':>10} {ll + ' p95':>10} {ll + '/' + ls:>7}  target"
    )
    say(head)
    say("-" * len(head))
    for name, big_fig in large["figures"].items():
        small_fig = small["figures"].get(name)
        unit = big_fig["unit"]
        limit = big_fig["target"]
        verdicts = []
        for r in results:
            f = r["figures"].get(name)
            if f is not None and f["p95"] >= limit:
                verdicts.append(f"{size_label(r['size'])} over")
        different_runs = name.startswith("run page") and small["big_run"] != large["big_run"]
        if small_fig is not None and len(results) > 1 and not different_runs:
            ratio = big_fig["p95"] / small_fig["p95"] if small_fig["p95"] else float("nan")
            ratio_txt = f"{ratio:7.2f}"
            if ratio > RATIO_TARGET:
                verdicts.append("ratio over")
        else:
            ratio_txt = f"{'n/a':>7}"
        sp50 = fmt(small_fig["p50"], unit) if small_fig else f"{'-':>10}"
        sp95 = fmt(small_fig["p95"], unit) if small_fig else f"{'-':>10}"
        tgt = f"< {limit:g} {unit}, ratio <= {RATIO_TARGET:g}"
        flag = "  MISSED: " + ", ".join(verdicts) if verdicts else ""
        if verdicts:
            missed.append(f"{name}: {', '.join(verdicts)}")
        say(
            f"{name:44} {sp50:>10} {sp95:>10} {fmt(big_fig['p50'], unit):>10}"
            f" {fmt(big_fig['p95'], unit):>10} {ratio_txt}  {tgt}{flag}"
        )
    for r in results:
        for name, f in r["figures"].items():
            if f.get("detail"):
                say(f"  {size_label(r['size'])} {name}: {f['detail']}")
    if small["big_run"] != large["big_run"]:
        say(
            f"  the big run holds {small['big_run']:,} measurements at {ls} and"
            f" {large['big_run']:,} at {ll}: its ratio compares different runs"
        )
    return missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        epilog="See the module docstring for the data set and the targets.",
    )
    parser.add_argument("--quick", action="store_true", help="100,000 and 1,000,000")
    parser.add_argument("--sizes", help="comma-separated measurement counts, small first")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page")
    parser.add_argument("--reload", action="store_true", help="rebuild the data sets")
    parser.add_argument(
        "--drop", action="store_true", help="drop the data sets' databases at the end"
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        if args.child:
            return child(args.child, args.requests, args.reload, args.out)
        if args.sizes:
            sizes = tuple(int(s.replace("_", "")) for s in args.sizes.split(","))
        else:
            sizes = QUICK_SIZES if args.quick else FULL_SIZES
        say(
            "Reads at scale: "
            + " and ".join(f"{s:,}" for s in sizes)
            + " measurements (Django test client, DEBUG=0, PostgreSQL)"
        )
        results = []
        started = time.perf_counter()
        for n in sizes:
            say(f"{size_label(n)}:")
            with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
                out = f.name
            cmd = [
                sys.executable,
                __file__,
                "--child",
                str(n),
                "--out",
                out,
                "--requests",
                str(args.requests),
            ]
            if args.reload:
                cmd.append("--reload")
            proc = subprocess.run(cmd, cwd=ROOT, env=hub_env(db_url(db_name(n))))
            if proc.returncode != 0:
                raise BenchError(f"the {size_label(n)} data set failed (exit {proc.returncode})")
            results.append(json.loads(Path(out).read_text()))
            os.unlink(out)
        missed = report(results)
        say(f"\nscale benchmark: {time.perf_counter() - started:.0f} s in all")
        if args.drop:
            for n in sizes:
                drop_database(db_name(n))
    except BenchError as exc:
        say(f"scale benchmark failed: {exc}")
        return 1
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
