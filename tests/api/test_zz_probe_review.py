from __future__ import annotations
import json, uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from django.test import Client
from api.models import Measurement, Run, UsageHour, Experiment
from tests.cast import Cast, api, measurement

def raw_post(client, path, key, raw, header="HTTP_AUTHORIZATION", prefix="Bearer "):
    return client.post(path, data=raw, content_type="application/json", **{header: prefix + key})

def mkrun(client, cast, key=None, rk="r1"):
    r = api(client, "post", "/api/v1/runs", key or cast.ingest_key, {"run_key": rk, "experiment": "e"})
    assert r.status_code in (200, 201), r.content
    return r.json()["id"]

def show(label, r):
    print(f"\n### {label}: {r.status_code} {r.content[:300]!r}")

def test_huge_int_fields(cast: Cast, client: Client) -> None:
    rid = mkrun(client, cast)
    m = measurement()
    body = json.dumps({"measurements": [m]}).replace('"duration_s": 10.0', '"duration_s": ' + "9"*400)
    try:
        r = raw_post(client, f"/api/v1/runs/{rid}/measurements", cast.ingest_key, body); show("meas duration_s 10**400", r)
    except Exception as e: print("\n### meas duration_s EXC", type(e).__name__, e)
    body = json.dumps({"run_key": "x2", "pue": 1.1}).replace("1.1", "9"*400)
    try:
        r = raw_post(client, "/api/v1/runs", cast.ingest_key, body); show("run pue 10**400", r)
    except Exception as e: print("\n### run pue EXC", type(e).__name__, e)
    body = json.dumps({"epochs_done": 1, "epochs_total": 2, "predicted_energy_kwh": 1.5}).replace("1.5", "9"*400)
    try:
        r = raw_post(client, f"/api/v1/runs/{rid}/prediction", cast.ingest_key, body); show("prediction 10**400", r)
    except Exception as e: print("\n### prediction EXC", type(e).__name__, e)

def test_nul_chars(cast: Cast, client: Client) -> None:
    rid = mkrun(client, cast)
    for label, path, body in [
        ("run params NUL", "/api/v1/runs", {"run_key": "n1", "params": {"a": "x\u0000y"}}),
        ("run hardware extra NUL", "/api/v1/runs", {"run_key": "n2", "hardware": {"foo": "x\u0000y"}}),
        ("finish metrics NUL", f"/api/v1/runs/{rid}/finish", {"status": "finished", "metrics": {"a": "x\u0000"}}),
        ("meas node NUL", f"/api/v1/runs/{rid}/measurements", {"measurements": [measurement(node="a\u0000b")]}),
        ("exp desc NUL", "/api/v1/experiments", {"name": "zz", "description": "a\u0000"}),
    ]:
        try:
            r = api(client, "post", path, cast.ingest_key, body); show(label, r)
        except Exception as e: print(f"\n### {label} EXC", type(e).__name__, str(e)[:200])

def test_codecarbon_probes(cast: Cast, client: Client) -> None:
    h = {"HTTP_X_API_TOKEN": cast.ingest_key}
    r = client.post("/api/codecarbon/runs", data=json.dumps({"experiment_id": "5b0fa12a-3dd7-45bb-9766-cc326314d9f1"}), content_type="application/json", **h)
    show("cc run", r)
    rid = r.json()["id"]
    now = datetime.now(UTC).isoformat()
    base = {"run_id": rid, "timestamp": now, "duration": 10, "cpu_energy": 0.001, "gpu_energy": 0, "ram_energy": 0.0001, "energy_consumed": 0.0011, "emissions_sum": 0.0001}
    for label, over in [("duration 1e20", {"duration": 1e20}), ("duration 1e11", {"duration": 1e11}),
                        ("cpu_power huge int", {"cpu_power": "HUGE"}), ("duration -5", {"duration": -5}),
                        ("cpu_energy string", {"cpu_energy": "abc"}), ("timestamp NUL", {"timestamp": now+"\u0000"}),
                        ("cpu_model", {})]:
        b = dict(base, **over)
        raw = json.dumps(b).replace('"HUGE"', "9"*400)
        try:
            r = client.post("/api/codecarbon/emissions", data=raw, content_type="application/json", **h); show("cc emissions " + label, r)
        except Exception as e: print(f"\n### cc {label} EXC", type(e).__name__, str(e)[:200])
    try:
        r = client.post("/api/codecarbon/runs", data=json.dumps({"cpu_model": "x\u0000"}), content_type="application/json", **h); show("cc run cpu_model NUL", r)
    except Exception as e: print("\n### cc run NUL EXC", type(e).__name__, str(e)[:200])
    try:
        r = client.post("/api/codecarbon/runs", data=json.dumps({"cpu_count": 1.7e5-1, "gpu_count": 3.5}), content_type="application/json", **h); show("cc run gpu_count 3.5", r)
    except Exception as e: print("\n### cc run EXC", type(e).__name__, str(e)[:200])

def test_cross_tenant_uuid(cast: Cast, client: Client) -> None:
    a = mkrun(client, cast)
    b = mkrun(client, cast, cast.other_ingest_key, "victim")
    m = measurement()
    r1 = api(client, "post", f"/api/v1/runs/{a}/measurements", cast.ingest_key, {"measurements": [m]})
    r2 = api(client, "post", f"/api/v1/runs/{b}/measurements", cast.other_ingest_key, {"measurements": [m]})
    print("\n### cross-tenant same uuid: A", r1.json()["accepted"], r1.json()["duplicates"], " B", r2.json()["accepted"], r2.json()["duplicates"], "B energy", r2.json()["run"]["energy_kwh"])
