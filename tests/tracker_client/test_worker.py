"""The Worker's state on its own: passes run by hand (no thread), then close and abandon."""

from __future__ import annotations

import inspect
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tracker_client import _tracker
from tracker_client._delivery import Outbox
from tracker_client._records import RunRecord
from tracker_client._spool import SpoolFile
from tracker_client._transport import RejectedError, RetryableError
from tracker_client._worker import Backoff, RetryClock, Worker


class Hub:
    """An in-memory transport; ``errors[name]``: per call, an error or None (ok)."""

    def __init__(self, **errors: list[Exception | None]) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.errors = {k: list(v) for k, v in errors.items()}
        self.block: threading.Event | None = None  # post_measurements waits on it
        self.items: list[dict[str, Any]] = []  # every measurement taken

    def _call(self, name: str, value: Any) -> None:
        errors = self.errors.get(name)
        if errors:
            error = errors.pop(0)
            if error is not None:
                raise error
        self.calls.append((name, value))

    def create_run(self, payload: dict[str, Any]) -> dict[str, Any]:
        self._call("create_run", payload)
        return {"id": "r1", "url": "http://hub/runs/r1/"}

    def post_measurements(self, run_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        if self.block is not None:
            self.block.wait(5)
        self._call("measurements", [x["seq"] for x in items])
        self.items.extend(items)
        return {"run": {"id": run_id, "measurement_count": len(items)}}

    def prediction(self, run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._call("prediction", body)
        return {}

    def finish(self, run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._call("finish", body)
        return {}

    def close(self) -> None:
        pass

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def measurement(seq: int, start: float, end: float) -> dict[str, Any]:
    return {
        "uuid": f"u{seq}",
        "seq": seq,
        "rank": 0,
        "start": f"t{start}",
        "end": f"t{end}",
        "duration_s": end - start,
        "cpu_energy_kwh": 1.0 * (end - start),
        "gpu_energy_kwh": 0.0,
        "ram_energy_kwh": 0.0,
        "cpu_power_w": 10.0,
    }


def make_worker(tmp_path: Path, hub: Hub | None, **kw: Any) -> Worker:
    run = RunRecord({"run_key": "k", "experiment": "e", "country": "FRA"})
    spool = SpoolFile(tmp_path / "spool", "k", lambda: {"v": 1, "run": run.payload})
    return Worker(lambda: hub, run, spool, **kw)


def spooled(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


# ---------------------------------------------------------------- retry clock


def test_the_retry_clock_counts_one_outage_until_a_success():
    clock = RetryClock(Backoff(base_s=1, cap_s=8))
    assert clock.ready(0.0) and clock.outage_s(5.0) == 0.0
    assert clock.unreachable(10.0) is True  # the outage starts
    assert 10.5 <= clock.next_at <= 11.0 and not clock.ready(10.2)
    assert clock.unreachable(12.0, retry_after=20.0) is False  # the same outage
    assert clock.next_at == 32.0
    assert clock.outage_s(40.0) == 30.0
    clock.succeeded()
    assert clock.ready(0.0) and clock.outage_since is None and clock.backoff.failures == 0


def test_a_failure_of_ours_backs_off_without_counting_an_outage():
    clock = RetryClock(Backoff(base_s=1, cap_s=8))
    clock.postpone(100.0)
    assert clock.outage_since is None and 100.5 <= clock.next_at <= 101.0


# ---------------------------------------------------------------- passes by hand


def test_a_pass_creates_the_run_first_then_delivers_in_order(tmp_path):
    hub = Hub()
    worker = make_worker(tmp_path, hub)
    worker.submit("finish", {"status": "finished"})
    worker.submit("prediction", {"epochs_done": 1})
    worker.submit("measurement", measurement(0, 0, 1))
    worker.attempt()
    assert hub.names() == ["create_run", "measurements", "prediction", "finish"]
    assert hub.calls[0][1]["country"] == "FRA"
    assert worker.run == {"id": "r1", "measurement_count": 1}  # the latest answer
    assert worker.retry.ready(time.monotonic())


def test_the_run_location_is_settled_once_before_the_run_is_created(tmp_path, monkeypatch):
    calls: list[bool] = []

    def resolve(payload: dict[str, Any], detect: bool) -> dict[str, Any]:
        calls.append(detect)
        return {"cloud_provider": "gcp", "cloud_region": "europe-west1"}

    monkeypatch.setattr("tracker_client._location.resolve_location", resolve)
    run = RunRecord({"run_key": "k", "cloud_provider": None}, detect_cloud=True)
    before = run.payload
    hub = Hub()
    spool = SpoolFile(tmp_path, "k", lambda: {"v": 1, "run": run.payload})
    worker = Worker(lambda: hub, run, spool)
    worker.attempt()
    worker.attempt()
    assert calls == [True]
    assert hub.calls[0][1]["cloud_region"] == "europe-west1"
    assert before["cloud_provider"] is None  # replaced, not changed under a reader
    spool.append({"kind": "measurements", "items": []})
    assert spooled(spool.path)[0]["run"]["cloud_provider"] == "gcp"


def test_a_tail_is_merged_only_into_a_measurement_still_waiting(tmp_path):
    hub = Hub()
    worker = make_worker(tmp_path, hub)
    worker.submit("measurement", measurement(0, 0, 1))  # still in the inbox
    assert worker.submit_tail(measurement(1, 1, 1.25)) is True
    worker.attempt()
    ((_, seqs),) = [c for c in hub.calls if c[0] == "measurements"]
    assert seqs == [0]
    assert worker.submit_tail(measurement(1, 1.25, 1.5)) is False  # nothing waits: alone
    assert worker.submit_tail(measurement(2, 3, 3.1)) is False  # not adjacent
    worker.attempt()
    assert [c[1] for c in hub.calls if c[0] == "measurements"][1:] == [[1, 2]]


def test_the_merged_tail_carries_its_energy_and_keeps_the_first_uuid(tmp_path):
    worker = make_worker(tmp_path, Hub())
    worker.submit("measurement", measurement(0, 0, 1))
    assert worker.submit_tail(measurement(1, 1, 1.5))
    out: list[dict[str, Any]] = []
    worker._outbox.drain_to(out.append)
    (item,) = out[0]["items"]
    assert item["uuid"] == "u0" and item["seq"] == 0
    assert item["end"] == "t1.5" and item["cpu_energy_kwh"] == pytest.approx(1.5)


def test_every_record_is_on_disk_before_it_is_queued(tmp_path):
    worker = make_worker(tmp_path, Hub())
    worker.submit("measurement", measurement(0, 0, 1))
    worker.submit("finish", {"status": "finished"})
    records = spooled(worker.spool.path)
    assert [r["kind"] for r in records] == ["header", "measurements", "finish"]
    assert records[1]["items"] == [measurement(0, 0, 1)]
    assert [kind for kind, _, _ in worker._inbox] == ["measurement", "finish"]
    assert worker.spool.has_pending()


def test_delivered_lines_are_retired_and_the_file_goes_with_the_finish(tmp_path):
    hub = Hub()
    worker = make_worker(tmp_path, hub)
    worker.submit("measurement", measurement(0, 0, 1))
    worker.attempt()
    assert [r["kind"] for r in spooled(worker.spool.path)] == ["header"]  # cut back
    assert not worker.spool.has_pending()
    worker.submit("measurement", measurement(1, 1, 2))
    worker.submit("finish", {"status": "finished"})
    assert [r["kind"] for r in spooled(worker.spool.path)] == ["header", "measurements", "finish"]
    worker.attempt()
    assert hub.names() == ["create_run", "measurements", "measurements", "finish"]
    assert not worker.spool.path.exists()  # the finish was acknowledged: nothing to keep
    assert worker.close(0.1) is True


def test_a_merged_tail_is_on_disk_as_the_extended_measurement(tmp_path):
    worker = make_worker(tmp_path, Hub())
    worker.submit("measurement", measurement(0, 0, 1))
    assert worker.submit_tail(measurement(1, 1, 1.5))
    records = spooled(worker.spool.path)[1:]
    assert [r["items"][0]["uuid"] for r in records] == ["u0", "u0"]  # the second replaces
    request = Outbox.from_records(records).next_request()
    assert request is not None
    (item,) = request[1]
    assert item["end"] == "t1.5" and item["cpu_energy_kwh"] == pytest.approx(1.5)


def test_an_outage_leaves_records_to_the_spool_and_sends_them_from_there(tmp_path):
    hub = Hub(measurements=[RetryableError("down"), RetryableError("down", 503)])
    worker = make_worker(tmp_path, hub, spool_after_s=0.0)
    worker.submit("measurement", measurement(0, 0, 1))
    worker.submit("finish", {"status": "finished"})
    worker.attempt()
    assert worker.retry.outage_since is not None and not worker.retry.ready(time.monotonic())
    assert worker._outbox.is_empty()  # bounded memory: held on disk only
    assert [r["kind"] for r in spooled(worker.spool.path)] == ["header", "measurements", "finish"]
    worker.submit("measurement", measurement(1, 1, 2))
    worker.retry.next_at = 0.0
    worker.attempt()  # fails again: the new measurement joins the records on disk
    assert worker._outbox.is_empty() and worker.spool.has_pending()
    worker.retry.next_at = 0.0
    worker.attempt()
    assert [c for c in hub.calls if c[0] != "create_run"] == [
        ("measurements", [0, 1]),  # from the spool, in one request
        ("finish", {"status": "finished"}),
    ]
    assert not worker.spool.has_pending() and worker.retry.outage_since is None
    assert worker.close(0.1) is True and not worker.spool.path.exists()


def test_a_refused_run_sends_everything_to_the_rejected_file(tmp_path, caplog):
    hub = Hub(create_run=[RejectedError("wrong key", 401)])
    worker = make_worker(tmp_path, hub)
    worker.submit("measurement", measurement(0, 0, 1))
    worker.attempt()
    assert worker.refused is not None and worker.refused.status == 401
    assert "flush --include-rejected" in caplog.text
    worker.submit("finish", {"status": "finished"})
    worker.attempt()  # no new try: straight to the rejected file
    assert hub.calls == []
    records = spooled(worker.spool.rejected_path)
    assert [r["kind"] for r in records] == ["header", "measurements", "finish"]
    assert all(r["rejected"]["status"] == 401 for r in records[1:])


def test_a_refused_batch_is_kept_with_its_reason_and_the_rest_goes_on(tmp_path):
    hub = Hub(measurements=[RejectedError("bad measurement", 400)])
    worker = make_worker(tmp_path, hub)
    worker.submit("measurement", measurement(0, 0, 1))
    worker.submit("finish", {"status": "finished"})
    worker.attempt()
    assert hub.names() == ["create_run", "finish"] and worker.refused is None
    (record,) = spooled(worker.spool.rejected_path)[1:]
    assert record["kind"] == "measurements" and record["rejected"]["status"] == 400


def test_an_unsendable_record_counts_as_refused_and_a_bug_is_retried(tmp_path):
    hub = Hub(measurements=[TypeError("not JSON serializable"), RuntimeError("bug")])
    worker = make_worker(tmp_path, hub)
    worker.submit("measurement", measurement(0, 0, 1))
    worker.attempt()
    assert spooled(worker.spool.rejected_path)[1]["rejected"]["status"] == 0
    worker.submit("measurement", measurement(1, 1, 2))
    worker.attempt()  # RuntimeError: retryable, kept
    assert worker._outbox.measurement_count() == 1
    worker.retry.next_at = 0.0
    worker.attempt()
    assert hub.calls[-1] == ("measurements", [1])


def test_without_a_hub_everything_goes_to_the_spool(tmp_path):
    worker = make_worker(tmp_path, None)
    worker.submit("measurement", measurement(0, 0, 1))
    worker.submit("finish", {"status": "finished"})
    worker.attempt()
    assert [r["kind"] for r in spooled(worker.spool.path)] == ["header", "measurements", "finish"]
    assert worker.close(0.1) is False and worker.spool.path.exists()


def test_past_max_queue_a_record_is_left_on_disk_and_sent_from_there(tmp_path):
    hub = Hub()
    worker = make_worker(tmp_path, hub, max_queue=1)
    worker.submit("measurement", measurement(0, 0, 1))
    worker.submit("prediction", {"epochs_done": 1})  # the inbox is full
    assert len(worker._inbox) == 1
    kinds = [r["kind"] for r in spooled(worker.spool.path)]
    assert kinds == ["header", "measurements", "prediction"]
    worker.attempt()
    assert hub.names() == ["create_run", "measurements", "prediction"]
    assert not worker.spool.has_pending()


def test_the_batch_waits_unless_a_call_must_go_now(tmp_path):
    worker = make_worker(tmp_path, Hub(), batch_wait_s=10.0)
    assert worker._batch_due_at() == 0.0
    worker.attempt()  # the run exists now
    worker.submit("measurement", measurement(0, 0, 1))
    worker._take_inbox()
    assert worker._batch_due_at() > time.monotonic() + 9
    worker.submit("finish", {"status": "finished"})
    worker._take_inbox()
    assert worker._batch_due_at() == 0.0


# ---------------------------------------------------------------- the thread


def test_close_delivers_what_is_queued_and_removes_the_empty_spool(tmp_path):
    hub = Hub()
    worker = make_worker(tmp_path, hub, batch_wait_s=30.0)
    worker.start()
    worker.submit("measurement", measurement(0, 0, 1))
    worker.submit("finish", {"status": "finished"})
    assert worker.close(2.0) is True
    assert hub.names() == ["create_run", "measurements", "finish"]
    assert worker._thread is not None and not worker._thread.is_alive()


def test_a_stuck_hub_at_close_is_abandoned_and_everything_spooled(tmp_path):
    hub = Hub()
    hub.block = threading.Event()
    worker = make_worker(tmp_path, hub)
    worker.start()
    worker.submit("measurement", measurement(0, 0, 1))
    worker.submit("finish", {"status": "finished"})
    time.sleep(0.2)  # the post is in flight, stuck
    started = time.monotonic()
    assert worker.close(0.1) is False
    assert time.monotonic() - started < 1.5
    kinds = [r["kind"] for r in spooled(worker.spool.path)]
    assert kinds == ["header", "measurements", "finish"]  # the in-flight batch too
    hub.block.set()  # the stuck request returns: nothing more is sent
    assert worker._thread is not None
    worker._thread.join(2)
    assert "finish" not in hub.names()
    worker.submit("prediction", {"epochs_done": 1})  # after abandoning: to disk
    assert spooled(worker.spool.path)[-1]["kind"] == "prediction"


def test_after_a_fork_the_worker_is_empty_and_sends_nothing(tmp_path):
    hub = Hub()
    worker = make_worker(tmp_path, hub)
    worker.submit("measurement", measurement(0, 0, 1))
    worker.reset_after_fork()
    assert worker._outbox.is_empty() and not worker._inbox
    assert worker.submit_tail(measurement(1, 1, 1.1)) is False


# ---------------------------------------------------------------- the boundaries


def test_the_tracker_uses_only_the_workers_public_side():
    source = inspect.getsource(_tracker)
    assert "worker._" not in source
    assert "on_run" not in source and "before_create" not in source


def test_json_safe_runs_once_per_record(sensors_factory, monkeypatch):
    import tracker_client._records as records
    import tracker_client._worker as worker_module
    from tracker_client import Tracker

    np = pytest.importorskip("numpy")
    original = records.json_safe
    outputs: list[Any] = []  # kept alive, so that identities stay meaningful

    def counting(value: Any, _depth: int = 0) -> Any:
        if _depth:
            return original(value, _depth)
        assert not any(value is out for out in outputs), "json_safe ran on its own output"
        result = original(value)
        outputs.append(result)
        return result

    monkeypatch.setattr(records, "json_safe", counting)
    monkeypatch.setattr(worker_module, "json_safe", counting)
    monkeypatch.setattr(records, "MIN_TAIL_S", 0.0)
    hub = Hub()
    tracker = Tracker(
        experiment="e",
        interval_s=60,
        epochs_total=2,
        params={"lr": np.float32(0.5)},
        sensors=sensors_factory(),
        transport=hub,
    ).start()
    time.sleep(0.01)
    tracker.epoch_end()  # a measurement and a prediction
    tracker.log_metrics({"acc": np.float64(0.75)})
    tracker.stop()  # the last measurement and the finish
    bodies = {name: value for name, value in hub.calls if name != "measurements"}
    assert list(bodies) == ["create_run", "prediction", "finish"]
    assert bodies["finish"]["metrics"] == {"acc": 0.75}
    # Each record that reached the hub came out of exactly one json_safe call (other
    # trackers of the test session may call it meanwhile: they are not counted).
    delivered = [*bodies.values(), *hub.items]
    assert [m["seq"] for m in hub.items] == [0, 1]
    for record in delivered:
        assert sum(out == record for out in outputs) == 1, record
