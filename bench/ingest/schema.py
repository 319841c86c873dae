"""Parse-and-check cost of a measurement batch: the hub's msgspec schema (``api.schema``)
beside the same rules in pydantic v2 and beside ``json.loads`` alone, per measurement.

Why the hub's schema is msgspec: the measurement it was chosen by. A batch of 100 fresh
measurements, as clients send it, decoded ``--repeat`` times.

Usage: python bench/ingest/schema.py [--repeat 300]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emissions_hub.settings")


def body(n: int = 100) -> bytes:
    now = datetime.now(UTC) - timedelta(hours=1)
    items = []
    for i in range(n):
        start = now + timedelta(seconds=10 * i)
        items.append(
            {
                "uuid": str(uuid.uuid4()),
                "seq": i,
                "node": "node-0",
                "rank": 0,
                "start": start.isoformat(),
                "end": (start + timedelta(seconds=10)).isoformat(),
                "duration_s": 10.0,
                "cpu_energy_kwh": 0.0001,
                "gpu_energy_kwh": 0.0008,
                "ram_energy_kwh": 0.00001,
                "cpu_power_w": 36.0,
                "gpu_power_w": 288.0,
                "ram_power_w": 3.6,
                "cpu_method": "rapl",
                "gpu_method": "nvml_energy",
                "ram_method": "constant",
                "gpu_count": 1,
            }
        )
    return json.dumps({"measurements": items}).encode()


def pydantic_batch() -> Any:
    """The same fields and bounds as ``api.schema.MeasurementIn``, in pydantic v2."""
    import pydantic
    from pydantic import Field

    from api import schema as s

    method = Literal[tuple(sorted(s.METHODS))]  # type: ignore[valid-type]
    energy = Annotated[float, Field(ge=0, le=s.MAX_INTERVAL_KWH)]
    power = Annotated[float, Field(ge=0, le=s.MAX_POWER_W)] | None

    class Item(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(strict=True)
        uuid: uuid.UUID
        start: datetime
        end: datetime
        duration_s: Annotated[float, Field(ge=0, le=s.MAX_INTERVAL_S)] | None = None
        seq: Annotated[int, Field(ge=0, le=2**62)] = 0
        node: Annotated[str, Field(max_length=200)] = ""
        rank: Annotated[int, Field(ge=0, le=1_000_000)] = 0
        cpu_energy_kwh: energy = 0.0
        gpu_energy_kwh: energy = 0.0
        ram_energy_kwh: energy = 0.0
        cpu_power_w: power = None
        gpu_power_w: power = None
        ram_power_w: power = None
        cpu_method: method | None = None  # type: ignore[valid-type]
        gpu_method: method | None = None  # type: ignore[valid-type]
        ram_method: method | None = None  # type: ignore[valid-type]
        gpu_count: Annotated[int, Field(ge=0, le=4096)] | None = None

    class Batch(pydantic.BaseModel):
        measurements: list[Item]

    return Batch


def per_measurement_us(fn: Any, repeat: int, n: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()
    import django

    django.setup()
    from api import schema

    data = body()
    rows = [
        (
            "api.schema (msgspec): decode and check types",
            lambda: schema._batch_decoder.decode(data),
        ),
        ("json.loads alone (no checks)", lambda: json.loads(data)),
    ]
    try:
        batch = pydantic_batch()
        rows.insert(
            1, ("pydantic v2: model_validate_json", lambda: batch.model_validate_json(data))
        )
    except ImportError:
        print("pydantic is not installed: its figure is left out")
    print("Parse and check a batch of 100 measurements, per measurement:")
    for name, fn in rows:
        print(f"  {name:48} {per_measurement_us(fn, args.repeat, 100):6.2f} us")


if __name__ == "__main__":
    main()
