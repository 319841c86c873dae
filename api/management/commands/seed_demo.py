"""Load a realistic demo: an organisation with several projects, experiments and hundreds
of runs across regions and providers over the last two quarters, plus a login.

The energies come from a simple physical model of each run (GPU board power x
utilisation, CPU package power, RAM per GB) over its duration, so every total on the
pages is a real sum of the generated measurements. Deterministic for a given --seed.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from api import ingest
from api.models import ApiKey, Membership, Organisation, Project, Role, Run, RunStatus
from api.schema import MeasurementIn, Method

# (name, description, location defaults, hosting, experiments)
PROJECTS: list[dict[str, Any]] = [
    {
        "name": "vision",
        "description": "Image classification and detection models.",
        "where": [
            {"cloud_provider": "aws", "cloud_region": "us-east-1"},
            {"cloud_provider": "aws", "cloud_region": "eu-north-1"},
        ],
        "hosting": "cloud",
        "experiments": ["resnet50-imagenet", "vit-base-finetune", "yolo-detection"],
    },
    {
        "name": "language-models",
        "description": "Pre-training and fine-tuning of language models.",
        "where": [
            {"cloud_provider": "gcp", "cloud_region": "europe-west4"},
            {"cloud_provider": "gcp", "cloud_region": "us-central1"},
            {"cloud_provider": "azure", "cloud_region": "westeurope"},
        ],
        "hosting": "cloud",
        "experiments": ["llm-1b-pretrain", "bert-finetune", "instruction-tuning"],
    },
    {
        "name": "recommender",
        "description": "Ranking models trained on the on-premises cluster in Paris.",
        "where": [{"country": "FRA"}],
        "hosting": "owned",
        "experiments": ["two-tower", "dlrm-baseline"],
    },
    {
        "name": "speech",
        "description": "Speech recognition on a colocated cluster in Frankfurt and cloud bursts.",
        "where": [{"country": "DEU"}, {"cloud_provider": "azure", "cloud_region": "eastus"}, {}],
        "hosting": "colocated",
        "experiments": ["whisper-small-finetune", "conformer-ctc"],
    },
    {
        "name": "research-sandbox",
        "description": "Exploratory jobs; many do not say where they ran.",
        "where": [{}, {}, {"country": "USA", "region": "CA"}, {"country": "SWE"}],
        "hosting": "owned",
        "experiments": ["prototype", "hparam-sweep"],
    },
]

GPUS = [
    ("NVIDIA A100-SXM4-80GB", 400.0),
    ("NVIDIA H100 80GB HBM3", 700.0),
    ("Tesla V100-SXM2-32GB", 300.0),
    ("NVIDIA L4", 72.0),
]
CPUS = [("AMD EPYC 7763 64-Core Processor", 280.0), ("Intel(R) Xeon(R) Platinum 8480+", 350.0)]


class Command(BaseCommand):
    help = "Load demo data (idempotent: does nothing when the demo organisation already has runs)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", default="Demo Lab")
        parser.add_argument("--runs", type=int, default=320, help="number of runs to create")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="demo-password")

    def handle(self, *args: Any, **opts: Any) -> None:
        rng = random.Random(opts["seed"])
        org, _ = Organisation.objects.get_or_create(name=opts["org"])
        user, created = User.objects.get_or_create(
            username=opts["username"], defaults={"email": "demo@example.org"}
        )
        if created:
            user.set_password(opts["password"])
            user.is_staff = True
            user.is_superuser = True
            user.save()
        Membership.objects.get_or_create(user=user, organisation=org, defaults={"role": Role.OWNER})
        if Run.objects.filter(project__organisation=org).exists():
            self.stdout.write(f"Demo data already present in {org.name!r}; nothing to do.")
            self._print_login(opts)
            return
        now = timezone.now()
        quarter_start = datetime(now.year, 3 * ((now.month - 1) // 3) + 1, 1, tzinfo=UTC)
        earliest = (quarter_start - timedelta(days=92)).replace(day=1)
        span_s = (now - earliest).total_seconds()
        projects = []
        for spec in PROJECTS:
            first = spec["where"][0]
            project, _ = Project.objects.get_or_create(
                organisation=org,
                name=spec["name"],
                defaults={
                    "description": spec["description"],
                    "hosting": spec["hosting"],
                    "country": first.get("country", ""),
                    "cloud_provider": first.get("cloud_provider", ""),
                    "cloud_region": first.get("cloud_region", ""),
                },
            )
            if not ApiKey.objects.filter(project=project).exists():
                ApiKey.issue(project, "ingest", "demo")
            projects.append((project, spec))
        total = opts["runs"]
        for i in range(total):
            project, spec = projects[i % len(projects)]
            where = rng.choice(spec["where"])
            experiment = rng.choice(spec["experiments"])
            # Later runs are more frequent: teams grow.
            frac = rng.random() ** 0.7
            started = earliest + timedelta(seconds=frac * span_s)
            hours = rng.choice([0.5, 1, 2, 3, 6, 8, 12, 24, 36])
            running = i >= total - 2
            if running:
                started = now - timedelta(hours=hours * 0.6)
            end_limit = now - timedelta(minutes=1)
            self._make_run(rng, project, experiment, where, started, hours, end_limit, running, i)
            if (i + 1) % 50 == 0:
                self.stdout.write(f"  {i + 1}/{total} runs")
        self.stdout.write(
            self.style.SUCCESS(f"Demo data loaded: {total} runs in {len(projects)} projects.")
        )
        self._print_login(opts)

    def _make_run(
        self,
        rng: random.Random,
        project: Project,
        experiment: str,
        where: dict[str, str],
        started: datetime,
        hours: float,
        end_limit: datetime,
        running: bool,
        index: int,
    ) -> None:
        gpu_model, gpu_w = rng.choice(GPUS)
        cpu_model, cpu_tdp = rng.choice(CPUS)
        gpus = rng.choice([1, 1, 2, 4, 8])
        ram_gb = rng.choice([128, 256, 512])
        epochs = rng.choice([5, 10, 20, 30])
        lr = rng.choice([1e-4, 3e-4, 1e-3])
        data = {
            "run_key": f"demo-{index}",
            "experiment": experiment,
            "hardware": {
                "gpu_model": gpu_model,
                "gpu_count": gpus,
                "cpu_model": cpu_model,
                "cpu_count": 64,
                "ram_gb": ram_gb,
            },
            "software": {"python": "3.11", "client": "tracker_client (demo data)"},
            "params": {"lr": lr, "batch_size": rng.choice([32, 64, 128]), "epochs": epochs},
            "tags": rng.sample(["baseline", "ablation", "sweep", "prod"], k=1),
            "epochs_total": epochs,
            "started_at": started,
            **where,
        }
        run, _ = ingest.get_or_create_run(project, data)
        n = 48
        duration = hours * 3600.0
        step = duration / n
        util = rng.uniform(0.6, 0.98)
        batch: list[MeasurementIn] = []
        failed = rng.random() < 0.08
        lost = not failed and rng.random() < 0.03
        stop_at = n if not (failed or lost) else rng.randint(5, n - 5)
        for k in range(stop_at):
            start = started + timedelta(seconds=k * step)
            end = start + timedelta(seconds=step)
            if end > end_limit:
                break
            u = min(max(util + rng.gauss(0, 0.05), 0.05), 1.0)
            gpu_p = gpus * gpu_w * (0.25 + 0.75 * u)
            cpu_p = cpu_tdp * (0.1 + 0.9 * (0.3 * u) ** 3) + 20
            ram_p = ram_gb * 0.3725
            to_kwh = step / 3_600_000.0
            cpu_method: Method = "rapl" if rng.random() < 0.6 else "tdp_model"
            batch.append(
                MeasurementIn(
                    uuid=uuid.uuid4(),
                    seq=k,
                    node="node-01",
                    rank=0,
                    start=start,
                    end=end,
                    duration_s=step,
                    cpu_energy_kwh=cpu_p * to_kwh,
                    gpu_energy_kwh=gpu_p * to_kwh,
                    ram_energy_kwh=ram_p * to_kwh,
                    cpu_power_w=cpu_p,
                    gpu_power_w=gpu_p,
                    ram_power_w=ram_p,
                    cpu_utilization_pct=30.0 * u,
                    gpu_utilization_pct=100.0 * u,
                    ram_utilization_pct=40.0,
                    cpu_method=cpu_method,
                    gpu_method="nvml_energy",
                    ram_method="constant",
                    gpu_count=gpus,
                    epoch=int(k * epochs / n),
                )
            )
        ingest.ingest_measurements(run, batch)
        if running:
            return
        run.refresh_from_db()
        if lost:
            Run.objects.filter(pk=run.pk).update(status=RunStatus.LOST)
            return
        # Accuracy improves with compute, with noise: gives the experiment scatter its shape.
        accuracy = min(0.55 + 0.08 * (run.energy_kwh**0.25) + rng.gauss(0, 0.02), 0.99)
        run.finish(
            RunStatus.FAILED if failed else RunStatus.FINISHED,
            {} if failed else {"accuracy": round(accuracy, 4)},
            run.last_end,
        )

    def _print_login(self, opts: dict[str, Any]) -> None:
        self.stdout.write(
            f"Sign in with username {opts['username']!r} and password {opts['password']!r}."
        )
