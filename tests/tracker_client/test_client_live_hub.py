"""The client against the real hub (pytest-django live_server): the wire contract end to end.

What the fake hub of conftest.py stands in for elsewhere, checked once against the real
ingestion code: every measurement stored once with contiguous seq, the prediction and
the finish call applied, the spool replayed by ``flush`` (twice: harmless), a refused
run kept and delivered after the fix.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from api.models import Run
from tests.cast import make_cast
from tracker_client import Tracker
from tracker_client._cli import main

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def options(url: str, key: str, sensors: Any, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict(
        experiment="live",
        hub_url=url,
        api_key=key,
        country="FRA",
        interval_s=0.1,
        timeout_s=2.0,
        flush_timeout_s=5.0,
        summary=False,
        sensors=sensors,
    )
    base.update(kw)
    return base


def stored(run: Run) -> list[dict[str, Any]]:
    return [dict(m) for m in run.measurements.order_by("rank", "seq").values()]


def assert_run_matches(run: Run, tracker: Tracker) -> None:
    items = stored(run)
    assert [m["seq"] for m in items] == list(range(tracker._seq))
    assert len({m["uuid"] for m in items}) == len(items)
    total = sum(m["cpu_energy_kwh"] + m["gpu_energy_kwh"] + m["ram_energy_kwh"] for m in items)
    assert total == pytest.approx(tracker.energy_kwh, rel=1e-9, abs=1e-12)


def test_a_run_is_delivered_predicted_and_finished(live_server, sensors_factory, monkeypatch):
    monkeypatch.setattr("tracker_client._records.MIN_TAIL_S", 0.0)
    cast = make_cast()
    with Tracker(
        **options(
            live_server.url,
            cast.ingest_key,
            sensors_factory(),
            run_key="live-1",
            epochs_total=4,
        )
    ) as tracker:
        for _ in range(2):
            time.sleep(0.25)
            tracker.epoch_end()
        tracker.log_metrics({"accuracy": 0.91})
    run = Run.objects.get(project=cast.project, run_key="live-1")
    assert run.status == "finished" and run.metrics == {"accuracy": 0.91}
    assert run.epochs_done == 2 and run.epochs_total == 4
    assert run.predicted_energy_kwh == pytest.approx(sum(tracker.epoch_energies_kwh) / 2 * 4)
    assert_run_matches(run, tracker)
    assert str(run.uuid) in tracker.summary_text()  # the hub's answer, read by the summary


def test_a_tiny_last_interval_is_merged_and_seq_stays_contiguous(
    live_server, sensors_factory, monkeypatch
):
    monkeypatch.setenv("EMISSIONS_HUB_BATCH_WAIT_S", "30")
    cast = make_cast()
    tracker = Tracker(
        **options(
            live_server.url, cast.ingest_key, sensors_factory(), run_key="live-2", interval_s=60
        )
    ).start()
    time.sleep(0.6)
    tracker.epoch_end()  # cut, and waiting for the batch
    tracker.stop()  # a last interval of microseconds: merged into it
    run = Run.objects.get(project=cast.project, run_key="live-2")
    (item,) = stored(run)
    assert item["duration_s"] >= 0.6
    assert_run_matches(run, tracker)


def test_what_the_hub_never_got_is_flushed_later_and_a_second_flush_is_harmless(
    live_server, sensors_factory, tmp_path, capsys
):
    cast = make_cast()
    down = "http://127.0.0.1:9"  # discard port: connection refused
    with Tracker(
        **options(down, cast.ingest_key, sensors_factory(), run_key="live-3", timeout_s=0.3)
    ) as tracker:
        time.sleep(0.35)
    files = list((tmp_path / "spool").glob("*.jsonl"))
    assert len(files) == 1
    header = json.loads(files[0].read_text().splitlines()[0])
    assert header["run"]["run_key"] == "live-3" and header["run"]["country"] == "FRA"
    assert not Run.objects.filter(run_key="live-3").exists()

    argv = ["flush", "--hub-url", live_server.url, "--api-key", cast.ingest_key]
    assert main(argv) == 0
    assert f"{tracker._seq} measurement(s) delivered" in capsys.readouterr().out
    run = Run.objects.get(project=cast.project, run_key="live-3")
    assert run.status == "finished"
    assert_run_matches(run, tracker)
    assert list((tmp_path / "spool").glob("*")) == []

    # The same records sent again (a replay interrupted after delivery): no double count.
    lines = [json.dumps(header)]
    lines += [json.dumps({"kind": "measurements", "items": [m]}) for m in _as_wire(stored(run))]
    files[0].write_text("\n".join(lines) + "\n")
    assert main(argv) == 0
    assert_run_matches(Run.objects.get(pk=run.pk), tracker)


def _as_wire(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = [
        "uuid",
        "seq",
        "node",
        "rank",
        "duration_s",
        "cpu_energy_kwh",
        "gpu_energy_kwh",
        "ram_energy_kwh",
        "cpu_method",
        "gpu_method",
        "ram_method",
    ]
    out = []
    for m in items:
        wire = {k: m[k] for k in keys}
        wire["uuid"] = str(m["uuid"])
        wire["start"] = m["start"].isoformat().replace("+00:00", "Z")
        wire["end"] = m["end"].isoformat().replace("+00:00", "Z")
        out.append(wire)
    return out


def test_a_refused_run_is_kept_and_delivered_once_the_key_is_fixed(
    live_server, sensors_factory, tmp_path, caplog
):
    cast = make_cast()
    with Tracker(
        **options(live_server.url, "ehi_wrong", sensors_factory(), run_key="live-4")
    ) as tracker:
        time.sleep(0.25)
    assert "401" in caplog.text
    assert list((tmp_path / "spool").glob("*.rejected.jsonl"))
    assert not Run.objects.filter(run_key="live-4").exists()
    argv = ["flush", "--hub-url", live_server.url, "--api-key", cast.ingest_key]
    assert main([*argv, "--include-rejected"]) == 0
    run = Run.objects.get(project=cast.project, run_key="live-4")
    assert run.status == "finished"
    assert_run_matches(run, tracker)
