from __future__ import annotations
from pathlib import Path
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from api.importers import import_file
from api.models import Run, Measurement
from tests.cast import Cast

FIX = Path("tests/codecarbon/fixtures")

def test_same_file_two_orgs(cast: Cast) -> None:
    for name in ("codecarbon_v3_emissions.csv", "eco2ai_emission.csv", "carbontracker_output.log"):
        raw = (FIX / name).read_bytes()
        a = import_file(cast.project, raw, filename=name)
        b = import_file(cast.other_project, raw, filename=name)
        eb = sum(r.run.energy_kwh for r in b.runs)
        print(f"\n### {name}: org A accepted={a.accepted} dup={a.duplicates}; org B accepted={b.accepted} dup={b.duplicates} B energy={eb} B runs={len(b.runs)}")

def test_nul_in_csv(cast: Cast, client: Client) -> None:
    raw = (FIX / "eco2ai_emission.csv").read_text()
    lines = raw.splitlines()
    print("\n### header", lines[0][:200])
    print("### row", lines[1][:300])
    bad = raw.replace(lines[1].split(",")[1], lines[1].split(",")[1] + "\x00", 1)
    c = Client()
    f = SimpleUploadedFile("e.csv", bad.encode())
    try:
        r = c.post("/api/v1/imports", {"file": f}, HTTP_AUTHORIZATION=f"Bearer {cast.ingest_key}")
        print("### import NUL:", r.status_code, r.content[:300])
    except Exception as e:
        print("### import NUL EXC", type(e).__name__, str(e)[:200])
