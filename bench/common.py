"""Shared pieces of the server benchmarks: a scratch PostgreSQL database, the hub's
management commands, a gunicorn server in production shape, and HTTP calls that fail
loudly on a non-2xx answer.

Imported by bench/ingest/run.py and bench/scale/run.py (``sys.path`` gets ``bench/``).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")


class BenchError(RuntimeError):
    """A benchmark could not run (a server answered non-2xx, a tool is missing, ...)."""


def say(text: str = "") -> None:
    print(text, flush=True)


def db_url(name: str) -> str:
    base = urlparse(PG_ADMIN_URL)
    return base._replace(path=f"/{name}").geturl()


def recreate_database(name: str) -> str:
    """Drop and create the database ``name``; return its URL."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return db_url(name)


def database_exists(name: str) -> bool:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    return row is not None


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def hub_env(url: str) -> dict[str, str]:
    """The environment of a production-shaped hub on database ``url``."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key-not-for-production",
        "SECURE_COOKIES": "0",
        "LOG_LEVEL": "WARNING",
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("CELERY_BROKER_URL", None)
    return env


def manage(url: str, *args: str, quiet: bool = True) -> str:
    """Run ``manage.py`` on database ``url``; its stdout, or BenchError with its stderr."""
    proc = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=hub_env(url),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise BenchError(
            f"manage.py {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    if not quiet and proc.stdout.strip():
        say(proc.stdout.rstrip())
    return proc.stdout


def migrate(url: str) -> None:
    manage(url, "migrate", "--no-input", "-v0")


def create_key(
    url: str, org: str, project: str, scope: str = "ingest", country: str = "FRA"
) -> str:
    out = manage(
        url,
        "create_api_key",
        "--org",
        org,
        "--project",
        project,
        "--scope",
        scope,
        "--country",
        country,
    )
    return out.strip().splitlines()[-1]


# --- partitions ----------------------------------------------------------------------------


def measurement_is_partitioned(url: str) -> bool:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relname = 'api_measurement'"
        ).fetchone()
    return row is not None and row[0] == "p"


def months(first: datetime, last: datetime) -> list[datetime]:
    """The first instants (UTC) of every month from ``first`` to ``last``, both included."""
    out = []
    y, m = first.astimezone(UTC).year, first.astimezone(UTC).month
    end = (last.astimezone(UTC).year, last.astimezone(UTC).month)
    while (y, m) <= end:
        out.append(datetime(y, m, 1, tzinfo=UTC))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


# Run in a ``manage.py shell``: the hub's own partition code (api.partitions), given the
# first instant of every month to hold.
_ENSURE = """
import sys
from datetime import datetime
from api.partitions import ensure_partitions
ensure_partitions([datetime.fromisoformat(m) for m in sys.argv[-1].split(",")])
print("ok")
"""


def ensure_partitions(url: str, first: datetime, last: datetime) -> str:
    """Make sure api_measurement can hold rows from ``first`` to ``last``.

    Nothing to do when the table is not partitioned. Otherwise the hub's own
    ``api.partitions.ensure_partitions``; if that cannot be used, plain monthly partitions
    by SQL, named as the hub names them. Returns how it was done, for the log.
    """
    if not measurement_is_partitioned(url):
        return "api_measurement is not partitioned"
    wanted = months(first, last)
    arg = ",".join(m.isoformat() for m in wanted)
    code = f"import sys; sys.argv.append({arg!r})\n" + _ENSURE
    proc = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=hub_env(url),
        capture_output=True,
        text=True,
    )
    if proc.returncode == 0 and "ok" in proc.stdout:
        return (
            f"{len(wanted)} monthly partitions ({first:%Y-%m} .. {last:%Y-%m}) ensured by"
            " api.partitions.ensure_partitions"
        )
    import psycopg

    created = 0
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        for start in wanted:
            y, m = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
            nxt = datetime(y, m, 1, tzinfo=UTC)
            covered = conn.execute(
                "SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = 'api_measurement'::regclass"
                " AND pg_get_expr(c.relpartbound, c.oid) LIKE %s",
                [f"%FROM ('{start:%Y-%m-%d}%"],
            ).fetchone()
            if covered:
                continue
            conn.execute(
                f"CREATE TABLE api_measurement_p{start:%Y_%m} PARTITION OF api_measurement"
                f" FOR VALUES FROM ('{start.isoformat()}') TO ('{nxt.isoformat()}')"
            )
            created += 1
    why = proc.stderr.strip().splitlines()[-1:] or ["no output"]
    return f"api.partitions unusable ({why[0][:160]}); {created} monthly partitions made by SQL"


# --- HTTP ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    expect: tuple[int, ...] = (200, 201),
    timeout: float = 60.0,
) -> Any:
    """One HTTP request; the decoded JSON answer, or BenchError naming the status and body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        payload = None if body is None else json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=payload, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    if resp.status not in expect:
        raise BenchError(
            f"{method} {path} answered {resp.status}, expected {expect}: {data[:600]!r}"
        )
    ctype = resp.getheader("Content-Type") or ""
    return json.loads(data) if "json" in ctype and data else data


# --- gunicorn ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workers:
    """A gunicorn worker setup."""

    worker_class: str
    workers: int
    threads: int = 1

    @property
    def label(self) -> str:
        if self.worker_class == "sync":
            return f"sync x{self.workers}"
        return f"{self.worker_class} {self.workers}x{self.threads}"

    def args(self) -> list[str]:
        out = ["--worker-class", self.worker_class, "--workers", str(self.workers)]
        if self.worker_class == "gthread":
            out += ["--threads", str(self.threads)]
        return out

    @classmethod
    def parse(cls, text: str) -> Workers:
        """``sync:2``, ``gthread:2x4``."""
        kind, _, shape = text.partition(":")
        if kind == "sync":
            return cls("sync", int(shape or 2))
        if kind == "gthread":
            w, _, t = (shape or "2x4").partition("x")
            return cls("gthread", int(w), int(t or 4))
        raise ValueError(f"unknown worker setup {text!r} (sync:N or gthread:WxT)")


@contextmanager
def gunicorn(url: str, workers: Workers, extra_env: dict[str, str] | None = None) -> Iterator[int]:
    """A gunicorn serving the hub on a free loopback port; yields the port."""
    port = free_port()
    env = {**hub_env(url), **(extra_env or {})}
    log_path = ROOT / "bench" / ".gunicorn.log"  # the last server's log only
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "emissions_hub.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            *workers.args(),
            "--log-level",
            "warning",
            "--timeout",
            "120",
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                log.flush()
                tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
                raise BenchError(
                    f"gunicorn exited with {server.returncode}: {' | '.join(tail)}"
                    f" (whole log: {log_path})"
                )
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/login/")
                conn.getresponse().read()
                conn.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise BenchError("gunicorn did not answer within 60 s") from None
                time.sleep(0.1)
        # Every worker imports the hub lazily: warm them all before anything is timed.
        for _ in range(4 * workers.workers * workers.threads):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/login/")
            conn.getresponse().read()
            conn.close()
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def require_tool(path: str, hint: str) -> str:
    found = path if os.path.isabs(path) and os.access(path, os.X_OK) else None
    if found is None:
        from shutil import which

        found = which(path)
    if not found:
        raise BenchError(f"{path} is missing: {hint}")
    return found


# --- what the read benchmarks time (Django must be set up) ---------------------------------


def page_urls(org: Any) -> dict[str, str]:
    """Every dashboard page of organisation ``org``, by name: its overview, its first
    project (public page included), that project's busiest experiment and biggest run,
    and a running run's live view (bench/pages and bench/scale time these)."""
    from api.models import Experiment, Project, Run

    project = Project.objects.filter(organisation=org).order_by("name").first()
    if project is None:
        raise BenchError(f"organisation {org.name!r} has no project")
    if not project.public_token:
        project.public_token = f"bench-public-{org.pk}"
        project.save(update_fields=["public_token"])
    busiest = Experiment.objects.filter(project=project).order_by("-runs__emissions_kg").first()
    running = Run.objects.filter(project__organisation=org, status="running").first()
    biggest = Run.objects.filter(project=project).order_by("-measurement_count").first()
    if busiest is None or running is None or biggest is None:
        raise BenchError(f"organisation {org.name!r} lacks an experiment, a running or a big run")
    o = f"/o/{org.uuid}"
    return {
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


def time_get(client: Any, url: str, requests: int, warm: int = 3) -> list[float]:
    """Milliseconds of ``requests`` GETs of ``url`` through a Django test client, after
    ``warm`` untimed ones; BenchError on a non-200 answer."""
    for _ in range(warm):
        try:
            response = client.get(url)
        except Exception as exc:  # the test client re-raises the view's exception
            raise BenchError(f"GET {url} raised {exc!r}") from exc
        if response.status_code != 200:
            raise BenchError(
                f"GET {url} answered {response.status_code}: {response.content[:400]!r}"
            )
    times = []
    for _ in range(requests):
        t0 = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - t0) * 1000.0)
        if response.status_code != 200:
            raise BenchError(f"GET {url} answered {response.status_code}")
    return sorted(times)


def p(times: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of sorted ``times``, nearest rank."""
    if not times:
        return float("nan")
    return times[min(len(times) - 1, max(0, round(q * len(times)) - 1))]


def time_report(org: Any, start: Any, end: Any, title: str) -> tuple[float, dict[str, Any], str]:
    """Generate the organisation's report over [start, end) in every format; return the
    seconds it took, the report's data and the sizes of its files."""
    from django.utils import timezone

    from reports.generate import generate
    from reports.models import Report, ReportFile, ReportStatus

    report = Report.objects.create(
        organisation=org,
        title=title,
        period_start=start,
        period_end=end,
        status=ReportStatus.RUNNING,
        started_at=timezone.now(),
    )
    t0 = time.perf_counter()
    data = generate(report)
    elapsed = time.perf_counter() - t0
    Report.objects.filter(pk=report.pk).update(
        status=ReportStatus.DONE, finished_at=datetime.now(UTC)
    )
    sizes = ", ".join(
        f"{f.format} {f.size_bytes / 1024:.0f} KiB"
        for f in ReportFile.objects.filter(report=report).order_by("format")
    )
    Report.objects.filter(organisation=org).exclude(pk=report.pk).delete()
    return elapsed, data, sizes


def parse_quarter(label: str) -> Any:
    """The hub's period for ``2025Q3`` (api.periods; reports.periods in older hubs)."""
    try:
        from api.periods import parse_quarter as parse
    except ImportError:
        from reports.periods import parse_quarter as parse  # type: ignore[attr-defined,no-redef]
    return parse(label)


def previous(period: Any) -> Any:
    """The period of the same length just before ``period``."""
    try:
        from api.periods import previous as before
    except ImportError:
        from reports.periods import previous as before  # type: ignore[attr-defined,no-redef]
    return before(period)


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
