from __future__ import annotations
import time
from datetime import UTC, datetime
from typing import Any
import pytest
from django.core.management import call_command

def test_it_times(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("django.utils.timezone.now", lambda: datetime(2026, 11, 20, 18, 0, tzinfo=UTC))
    t = time.perf_counter()
    call_command("seed_demo")
    print("seed", time.perf_counter() - t)
