from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.tracker_client.conftest import wait_for
from tracker_client import Tracker

API_KEY = "ehi_test_key"


def make(hub, sensors_factory, **kw):
    options = dict(
        experiment="exp",
        hub_url=hub.url,
        api_key=API_KEY,
        country="FRA",
        interval_s=0.05,
        timeout_s=0.5,
        flush_timeout_s=3.0,
        sensors=sensors_factory(),
    )
    options.update(kw)
    return Tracker(**options)


def assert_hub_matches(hub, tracker):
    assert len(hub.measurements) == tracker._seq
    assert abs(hub.total_kwh() - tracker.energy_kwh) < 1e-12
    hub.assert_contiguous()


def test_it_delivers_every_interval_and_finishes_the_run(hub, sensors_factory, capsys):
    with make(hub, sensors_factory) as tracker:
        time.sleep(0.3)
    assert tracker._seq >= 4
    assert_hub_matches(hub, tracker)
    assert hub.finishes[-1][1]["status"] == "finished"
    run = next(iter(hub.runs.values()))
    assert run["payload"]["country"] == "FRA"
    assert run["payload"]["software"]["client"].startswith("tracker_client ")
    item = hub.items()[0]
    assert item["cpu_method"] == "rapl" and item["gpu_method"] == "nvml_energy"
    assert abs(item["duration_s"] - 0.05) < 0.05
    err = capsys.readouterr().err
    assert "kg CO2e at 56 g/kWh (France) and PUE 1.2" in err
    assert f"/runs/{run['id']}/" in err


def test_it_sends_the_last_partial_interval_however_short(hub, sensors_factory):
    tracker = make(hub, sensors_factory, interval_s=60).start()
    tracker.stop()
    assert len(hub.measurements) == 1
    assert hub.items()[0]["duration_s"] < 1
    assert_hub_matches(hub, tracker)


def test_it_retries_server_errors_with_backoff(hub, sensors_factory, monkeypatch):
    monkeypatch.setattr("tracker_client._worker.BACKOFF_BASE_S", 0.05)
    hub.script("500", "500", "500")
    with make(hub, sensors_factory) as tracker:
        time.sleep(0.5)
    assert_hub_matches(hub, tracker)
    assert hub.finishes
    assert len(hub.requests) >= 3 + 2


def test_backoff_is_capped_exponential_with_jitter():
    from tracker_client._worker import Backoff

    b = Backoff(base_s=1, cap_s=8)
    delays = [b.next_delay() for _ in range(6)]
    for d, ceiling in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert ceiling / 2 <= d <= ceiling
    assert b.next_delay(retry_after=42) == 42
    b.reset()
    assert b.next_delay() <= 1


def test_retry_after_accepts_seconds_and_http_dates():
    from tracker_client._transport import parse_retry_after

    assert parse_retry_after("3") == 3
    assert parse_retry_after("Thu, 01 Jan 2099 00:00:10 GMT", now=4070908800.0) == 10
    assert parse_retry_after("soon") is None


def test_it_honours_retry_after_on_429(hub, sensors_factory):
    hub.script("ok", "429:1")  # run created, then the first batch is throttled for 1 s
    tracker = make(hub, sensors_factory).start()
    assert wait_for(lambda: len(hub.requests) >= 2)
    throttled_at = hub.requests[1][2]
    time.sleep(0.3)
    assert len(hub.requests) == 2, "retried before Retry-After elapsed"
    assert wait_for(lambda: len(hub.requests) >= 3)
    assert hub.requests[2][2] - throttled_at >= 0.95
    tracker.stop()
    assert_hub_matches(hub, tracker)


def test_it_survives_a_hub_restart_on_the_same_port(hub, sensors_factory):
    tracker = make(hub, sensors_factory).start()
    assert wait_for(lambda: len(hub.measurements) >= 2)
    hub.stop()
    time.sleep(0.6)  # connections refused meanwhile
    hub.start()
    time.sleep(0.3)
    tracker.stop()
    assert_hub_matches(hub, tracker)
    assert hub.finishes[-1][1]["status"] == "finished"


def test_a_hanging_hub_costs_a_timeout_and_no_duplicate_total(hub, sensors_factory):
    hub.script("ok", "hang:1")  # beyond the 0.5 s client timeout, then stored late
    with make(hub, sensors_factory) as tracker:
        time.sleep(1.5)
    assert wait_for(lambda: len(hub.measurements) == tracker._seq, 2.0)
    assert_hub_matches(hub, tracker)


def test_a_long_outage_goes_to_the_spool_and_is_replayed_on_recovery(
    hub, sensors_factory, tmp_path
):
    tracker = make(hub, sensors_factory).start()
    tracker.worker.spool_after_s = 0.1
    assert wait_for(lambda: len(hub.measurements) >= 1)
    hub.stop()
    time.sleep(0.8)
    assert tracker.spool.path.exists(), "the outage was not spooled"
    hub.start()
    time.sleep(1.0)
    tracker.stop()
    assert_hub_matches(hub, tracker)
    assert not tracker.spool.path.exists(), "a delivered spool file was left behind"


def test_what_the_hub_never_got_is_spooled_and_sent_on_next_start(hub, sensors_factory, tmp_path):
    hub.stop()
    first = make(hub, sensors_factory, flush_timeout_s=0.3, run_key="job-1")
    with first:
        time.sleep(0.2)
    files = list((tmp_path / "spool").glob("*.jsonl"))
    assert len(files) == 1
    lines = [json.loads(x) for x in files[0].read_text().splitlines()]
    assert lines[0]["kind"] == "header" and lines[0]["run"]["run_key"] == "job-1"
    # A short last interval merged into the one before is a second line of the same uuid.
    spooled = {m["uuid"] for r in lines if r["kind"] == "measurements" for m in r["items"]}
    assert len(spooled) == first._seq
    assert any(r["kind"] == "finish" for r in lines)

    hub.start()
    second = make(hub, sensors_factory, run_key="job-2").start()
    assert wait_for(lambda: len(hub.finishes) >= 1)
    second.stop()
    assert spooled <= set(hub.measurements)
    assert set(hub.by_key) == {"job-1", "job-2"}
    assert not files[0].exists()


def test_flush_command_delivers_the_spool(hub, sensors_factory, tmp_path, capsys):
    from tracker_client._cli import main

    hub.stop()
    with make(hub, sensors_factory, flush_timeout_s=0.2) as tracker:
        time.sleep(0.15)
    hub.start()
    assert main(["flush", "--hub-url", hub.url, "--api-key", API_KEY]) == 0
    assert f"{tracker._seq} measurement(s) delivered" in capsys.readouterr().out
    assert_hub_matches(hub, tracker)
    assert hub.finishes[-1][1]["status"] == "finished"
    assert list((tmp_path / "spool").glob("*")) == []


def test_a_refused_batch_is_spooled_as_rejected_not_retried(hub, sensors_factory, tmp_path):
    hub.script("ok", "400")
    with make(hub, sensors_factory, interval_s=0.1) as tracker:
        assert wait_for(lambda: len(hub.requests) >= 3)
    rejected = list((tmp_path / "spool").glob("*.rejected.jsonl"))
    assert len(rejected) == 1
    records = [json.loads(x) for x in rejected[0].read_text().splitlines()]
    assert records[1]["rejected"]["status"] == 400
    refused = {m["uuid"] for m in records[1]["items"]}
    assert refused and not refused & set(hub.measurements)
    assert len(hub.measurements) + len(refused) == tracker._seq


def test_a_wrong_key_is_reported_and_everything_kept_for_later(
    hub, sensors_factory, tmp_path, caplog
):
    with make(hub, sensors_factory, api_key="ehi_wrong") as tracker:
        time.sleep(0.2)
    assert "401" in caplog.text and "flush --include-rejected" in caplog.text
    assert hub.measurements == {}
    from tracker_client._cli import main

    assert main(["flush", "--hub-url", hub.url, "--api-key", API_KEY, "--include-rejected"]) == 0
    assert_hub_matches(hub, tracker)


def test_stop_is_fast_when_the_hub_is_reachable(hub, sensors_factory):
    tracker = make(hub, sensors_factory, interval_s=10).start()
    time.sleep(0.2)
    t0 = time.perf_counter()
    tracker.stop()
    assert time.perf_counter() - t0 < 0.5
    assert hub.finishes


def test_stop_waits_no_longer_than_the_flush_timeout_when_the_hub_hangs(hub, sensors_factory):
    tracker = make(hub, sensors_factory, interval_s=10, timeout_s=5, flush_timeout_s=0.5).start()
    time.sleep(0.2)
    hub.script("hang:3", "hang:3", "hang:3")
    t0 = time.perf_counter()
    tracker.stop()
    assert time.perf_counter() - t0 < 1.5
    spooled = Path(tracker.spool.path).read_text()
    assert '"finish"' in spooled


def test_without_a_hub_url_everything_goes_to_the_spool(sensors_factory, tmp_path):
    with Tracker(experiment="x", interval_s=0.05, sensors=sensors_factory()) as tracker:
        time.sleep(0.12)
    files = list((tmp_path / "spool").glob("*.jsonl"))
    lines = [json.loads(x) for x in files[0].read_text().splitlines()]
    assert len({m["uuid"] for r in lines for m in r.get("items", [])}) == tracker._seq


def test_measurements_are_gathered_into_few_requests(hub, sensors_factory, monkeypatch):
    monkeypatch.setenv("EMISSIONS_HUB_BATCH_WAIT_S", "10")
    tracker = make(hub, sensors_factory, interval_s=0.02).start()
    time.sleep(0.4)
    assert [r for r in hub.requests if r[1].endswith("/measurements")] == []
    tracker.stop()
    posts = [r for r in hub.requests if r[1].endswith("/measurements")]
    assert len(posts) == 1 and tracker._seq >= 10
    assert_hub_matches(hub, tracker)


def test_a_full_queue_spills_to_disk_instead_of_blocking(hub, sensors_factory, monkeypatch):
    monkeypatch.setattr("tracker_client._records.MIN_TAIL_S", 0.0)  # epochs of microseconds
    tracker = make(hub, sensors_factory, interval_s=60).start()
    tracker.worker.max_queue = 0  # as if the worker were stuck
    for _ in range(5):
        tracker.epoch_end()
    spooled = tracker.spool.path.read_text()
    assert spooled.count('"measurements"') == 5
    tracker.worker.max_queue = 10_000
    tracker.stop()
    assert_hub_matches(hub, tracker)


class MemoryTransport:
    """An injected transport; ``post_measurements`` fails with ``errors`` in turn."""

    def __init__(self, errors=(), run=None):
        self.errors = list(errors)
        self.run = {"id": "r1"} if run is None else run
        self.items = []
        self.finishes = []

    def create_run(self, payload):
        json.dumps(payload, allow_nan=False)  # as requests would
        return self.run

    def post_measurements(self, run_id, items):
        if self.errors:
            raise self.errors.pop(0)
        self.items.extend(items)
        return {}

    def prediction(self, run_id, body):
        return {}

    def finish(self, run_id, body):
        self.finishes.append(body)
        return {}

    def close(self):
        pass


def rejected_records(tmp_path):
    return [
        json.loads(line)
        for f in (tmp_path / "spool").glob("*.rejected.jsonl")
        for line in f.read_text().splitlines()
    ]


def test_an_unexpected_error_in_delivery_neither_kills_the_thread_nor_loses_records(
    sensors_factory, tmp_path, monkeypatch
):
    monkeypatch.setattr("tracker_client._worker.BACKOFF_BASE_S", 0.05)
    transport = MemoryTransport(errors=[TypeError("not JSON serializable"), RuntimeError("bug")])
    tracker = Tracker(
        experiment="e", interval_s=0.05, sensors=sensors_factory(), transport=transport
    ).start()
    time.sleep(0.4)
    assert tracker.worker is not None and tracker.worker._thread is not None
    assert tracker.worker._thread.is_alive()
    tracker.stop()
    assert transport.finishes and transport.finishes[-1]["status"] == "finished"
    refused = [r for r in rejected_records(tmp_path) if r["kind"] == "measurements"]
    refused_items = [m for r in refused for m in r["items"]]
    assert refused and refused[0]["rejected"]["status"] == 0  # the TypeError: not retried
    # Everything else (the RuntimeError batch included, retried) was delivered.
    assert len(transport.items) + len(refused_items) == tracker._seq
    assert {m["uuid"] for m in transport.items}.isdisjoint(m["uuid"] for m in refused_items)


def test_numpy_values_in_params_and_metrics_do_not_stop_the_run(hub, sensors_factory):
    np = pytest.importorskip("numpy")
    params = {"lr": np.float32(0.5), "layers": np.int64(3), "shape": np.array([2, 3])}
    with make(hub, sensors_factory, params=params, tags=["a"]) as tracker:
        tracker.log_metrics({"acc": np.float64(0.75), "n": np.int32(4)})
    run = next(iter(hub.runs.values()))
    assert run["payload"]["params"] == {"lr": 0.5, "layers": 3, "shape": [2, 3]}
    assert hub.finishes[-1][1]["metrics"] == {"acc": 0.75, "n": 4.0}
    assert_hub_matches(hub, tracker)


def test_a_create_run_answer_without_an_id_keeps_everything_as_rejected(sensors_factory, tmp_path):
    transport = MemoryTransport(run={"status": "running"})
    tracker = Tracker(
        experiment="e", interval_s=0.05, sensors=sensors_factory(), transport=transport
    ).start()
    time.sleep(0.2)
    started = time.monotonic()
    tracker.stop()
    assert time.monotonic() - started < 2
    kinds = [r["kind"] for r in rejected_records(tmp_path)]
    assert "finish" in kinds
    spooled = [r for r in rejected_records(tmp_path) if r["kind"] == "measurements"]
    assert sum(len(r["items"]) for r in spooled) == tracker._seq


def test_close_spools_what_is_queued_when_the_delivery_thread_is_gone(tmp_path):
    from tracker_client._records import RunRecord
    from tracker_client._spool import SpoolFile
    from tracker_client._worker import Worker

    spool = SpoolFile(tmp_path / "s", "run", {"v": 1, "run": {"run_key": "k"}})
    run = RunRecord({"run_key": "k"})
    worker = Worker(lambda: None, run, spool)  # thread never started (or died)
    worker.submit("measurement", {"uuid": "u1", "seq": 0})
    worker.submit("finish", {"status": "finished"})
    assert worker.close(0.1) is False
    lines = [json.loads(x) for x in spool.path.read_text().splitlines()]
    assert [r["kind"] for r in lines] == ["header", "measurements", "finish"]


def test_a_nan_metric_is_sent_as_null_and_the_run_is_finished(hub, sensors_factory, caplog):
    with make(hub, sensors_factory, flush_timeout_s=2.0) as tracker:
        tracker.log_metrics({"val_loss": float("nan"), "best": float("inf"), "acc": 0.9})
    assert hub.finishes, "the finish call was never delivered"
    assert hub.finishes[-1][1]["metrics"] == {"val_loss": None, "best": None, "acc": 0.9}
    assert "val_loss" in caplog.text


def test_a_body_requests_cannot_encode_is_rejected_not_retried(hub):
    from tracker_client._transport import HttpTransport, RejectedError

    transport = HttpTransport(hub.url, API_KEY, timeout_s=1.0)
    with pytest.raises(RejectedError):
        transport.finish("some-run", {"status": "finished", "metrics": {"x": float("nan")}})
    with pytest.raises(RejectedError):
        transport.finish("some-run", {"status": "finished", "metrics": {"x": object()}})
    transport.close()
    assert hub.requests == []


def test_retry_after_zero_or_in_the_past_still_waits_for_the_backoff():
    from tracker_client._worker import Backoff

    b = Backoff(base_s=1, cap_s=8)
    assert 0.5 <= b.next_delay(0.0) <= 1.0
    assert 1.0 <= b.next_delay(0.0) <= 2.0
    assert b.next_delay(20.0) == 20.0
    assert Backoff(base_s=0.001).next_delay(0.0) >= 0.25


def test_retry_after_zero_does_not_make_the_client_hammer_the_hub(hub, sensors_factory):
    hub.script(*["429:0"] * 200)
    tracker = make(hub, sensors_factory, interval_s=0.05).start()
    time.sleep(0.6)
    assert len(hub.requests) <= 5  # backoff: 0.25-0.5 s, then 0.5-1 s...
    with hub._lock:
        hub._script.clear()  # the hub recovers
    tracker.stop()
    assert hub.finishes


def test_epoch_end_does_not_cut_an_interval_shorter_than_half_a_second(hub, sensors_factory):
    tracker = make(hub, sensors_factory, interval_s=60).start()
    tracker.epoch_end()
    assert tracker._seq == 0 and tracker.epoch_energies_kwh == [0.0]
    tracker.stop()
    assert len(hub.measurements) == 1 and hub.items()[0]["epoch"] == 1
    assert_hub_matches(hub, tracker)


def test_a_tiny_last_interval_is_merged_into_the_previous_one_still_queued(
    hub, sensors_factory, monkeypatch
):
    monkeypatch.setenv("EMISSIONS_HUB_BATCH_WAIT_S", "30")
    tracker = make(hub, sensors_factory, interval_s=60).start()
    time.sleep(0.6)
    tracker.epoch_end()  # cut, and kept waiting for the batch
    tracker.stop()  # at once: a last interval of a few microseconds
    assert len(hub.measurements) == 1
    item = hub.items()[0]
    assert item["duration_s"] >= 0.6
    assert item["cpu_power_w"] == pytest.approx(100.0)
    assert_hub_matches(hub, tracker)


def test_the_merge_of_a_tail_needs_adjacent_intervals():
    from tracker_client._records import merge_measurements as _merge_measurements

    prev = {"end": "a", "rank": 0, "duration_s": 1.0, "cpu_energy_kwh": 1.0, "cpu_power_w": 2}
    assert not _merge_measurements(dict(prev), {"start": "b", "rank": 0, "duration_s": 0.1})
    tail = {"start": "a", "end": "c", "rank": 0, "duration_s": 1.0, "cpu_energy_kwh": 2.0}
    tail["cpu_power_w"] = 4
    assert _merge_measurements(prev, tail)
    assert prev["end"] == "c" and prev["duration_s"] == 2.0
    assert prev["cpu_energy_kwh"] == 3.0 and prev["cpu_power_w"] == 3.0
