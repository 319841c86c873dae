"""The one delivery routine (tracker_client._delivery) on its own: no thread, no HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tracker_client._delivery import MAX_BATCH, Outbox, deliver
from tracker_client._transport import RejectedError, RetryableError


class Recorder:
    """A transport that logs every call; ``fail[name]``: per call, an error or None (ok)."""

    def __init__(self, **fail: list[Exception | None]) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail = {k: list(v) for k, v in fail.items()}
        self.during_post: Any = None  # called inside post_measurements (a concurrent add)

    def _maybe_fail(self, name: str) -> None:
        errors = self.fail.get(name)
        if errors:
            error = errors.pop(0)
            if error is not None:
                raise error

    def create_run(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("create_run", payload))
        return {"id": "r1"}

    def post_measurements(self, run_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        if self.during_post is not None:
            hook, self.during_post = self.during_post, None
            hook()
        self._maybe_fail("post_measurements")
        self.calls.append(("measurements", [m["seq"] for m in items]))
        return {"accepted": len(items), "run": {"id": run_id, "measurement_count": len(items)}}

    def prediction(self, run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._maybe_fail("prediction")
        self.calls.append(("prediction", body))
        return {}

    def finish(self, run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._maybe_fail("finish")
        self.calls.append(("finish", body))
        return {}

    def close(self) -> None:
        pass


def m(seq: int, **extra: Any) -> dict[str, Any]:
    return {"uuid": f"u{seq}", "seq": seq, "rank": 0, **extra}


def filled(n: int, prediction: bool = True, finish: bool = True) -> Outbox:
    outbox = Outbox()
    for i in range(n):
        outbox.add("measurement", m(i))
    if prediction:
        outbox.add("prediction", {"epochs_done": 1})
    if finish:
        outbox.add("finish", {"status": "finished"})
    return outbox


def never_rejected(record: dict[str, Any], exc: RejectedError) -> None:
    raise AssertionError(f"unexpected refusal: {exc}")


def test_measurements_go_in_chunks_then_the_prediction_then_the_finish():
    transport = Recorder()
    outbox = filled(MAX_BATCH + 5)
    answers: list[dict[str, Any]] = []
    sent = deliver(transport, "r1", outbox, never_rejected, answers.append)
    assert sent == MAX_BATCH + 5
    assert [name for name, _ in transport.calls] == [
        "measurements",
        "measurements",
        "prediction",
        "finish",
    ]
    assert transport.calls[0][1] == list(range(MAX_BATCH))
    assert transport.calls[1][1] == list(range(MAX_BATCH, MAX_BATCH + 5))
    assert len(answers) == 2 and answers[-1]["run"]["id"] == "r1"
    assert outbox.is_empty()


def test_only_the_latest_prediction_is_sent():
    outbox = Outbox()
    outbox.add("prediction", {"epochs_done": 1})
    outbox.add("prediction", {"epochs_done": 2})
    transport = Recorder()
    deliver(transport, "r1", outbox, never_rejected)
    assert transport.calls == [("prediction", {"epochs_done": 2})]


def test_a_refused_chunk_is_handed_over_and_delivery_goes_on():
    transport = Recorder(post_measurements=[RejectedError("bad", 400)])
    refused: list[tuple[dict[str, Any], int]] = []
    outbox = filled(MAX_BATCH + 2)
    sent = deliver(transport, "r1", outbox, lambda r, e: refused.append((r, e.status)))
    assert sent == 2
    ((record, status),) = refused
    assert status == 400 and record["kind"] == "measurements"
    assert [x["seq"] for x in record["items"]] == list(range(MAX_BATCH))
    assert [name for name, _ in transport.calls] == ["measurements", "prediction", "finish"]
    assert outbox.is_empty()


def test_a_refused_finish_is_handed_over_as_a_finish_record():
    transport = Recorder(finish=[RejectedError("no", 404)])
    refused: list[dict[str, Any]] = []
    deliver(transport, "r1", filled(1), lambda r, e: refused.append(r))
    assert refused == [{"kind": "finish", "body": {"status": "finished"}}]


def test_a_retryable_error_leaves_exactly_the_unsent_rest():
    transport = Recorder(post_measurements=[None, RetryableError("down")])
    outbox = filled(MAX_BATCH + 3)  # the first chunk goes, the second fails
    with pytest.raises(RetryableError):
        deliver(transport, "r1", outbox, never_rejected)
    assert outbox.measurement_count() == 3 and outbox.has_body()
    transport.calls.clear()
    assert deliver(transport, "r1", outbox, never_rejected) == 3
    assert [name for name, _ in transport.calls] == ["measurements", "prediction", "finish"]
    assert transport.calls[0][1] == [MAX_BATCH, MAX_BATCH + 1, MAX_BATCH + 2]


def test_a_refusal_that_cannot_be_kept_leaves_the_record_in_the_outbox():
    transport = Recorder(post_measurements=[RejectedError("bad", 400)])

    def cannot_write(record: dict[str, Any], exc: RejectedError) -> None:
        raise OSError("disk full")

    outbox = filled(2, prediction=False)
    with pytest.raises(OSError):
        deliver(transport, "r1", outbox, cannot_write)
    assert outbox.measurement_count() == 2 and outbox.has_body()


def test_a_finish_never_overtakes_a_measurement_added_meanwhile():
    outbox = filled(1, prediction=False)
    transport = Recorder()
    transport.during_post = lambda: outbox.add("measurement", m(1))
    deliver(transport, "r1", outbox, never_rejected)
    assert transport.calls == [
        ("measurements", [0]),
        ("measurements", [1]),
        ("finish", {"status": "finished"}),
    ]


def test_a_newer_prediction_that_came_during_the_call_is_kept_for_next_time():
    outbox = Outbox()
    outbox.add("prediction", {"epochs_done": 1})
    transport = Recorder()
    original = transport.prediction

    def prediction(run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if body["epochs_done"] == 1:
            outbox.add("prediction", {"epochs_done": 2})
        return original(run_id, body)

    transport.prediction = prediction  # type: ignore[method-assign]
    deliver(transport, "r1", outbox, never_rejected)
    assert [body["epochs_done"] for _, body in transport.calls] == [1, 2]


def test_the_measurement_in_flight_is_never_merged_into():
    outbox = Outbox()
    outbox.add("measurement", m(0, end="t1", duration_s=1.0))
    tail = {"start": "t1", "end": "t2", "rank": 0, "duration_s": 0.1}
    request = outbox.next_request()
    assert request is not None and request[0] == "measurements"
    assert not outbox.merge_tail(dict(tail))  # being posted: the merge would be lost
    outbox.settle_chunk(request[1], done=False)  # the post failed: it waits again
    assert outbox.merge_tail(dict(tail))
    request = outbox.next_request()
    assert request is not None
    assert request[1][0]["end"] == "t2" and request[1][0]["duration_s"] == 1.1


def test_a_tail_is_merged_into_a_later_waiting_measurement_while_one_is_in_flight():
    outbox = Outbox()
    outbox.add("measurement", m(0, end="t1", duration_s=1.0))
    request = outbox.next_request()
    assert request is not None
    outbox.add("measurement", m(1, start="t1", end="t2", duration_s=1.0))
    assert outbox.merge_tail({"start": "t2", "end": "t3", "rank": 0, "duration_s": 0.1})
    outbox.settle_chunk(request[1], done=True)
    request = outbox.next_request()
    assert request is not None and [x["seq"] for x in request[1]] == [1]
    assert request[1][0]["end"] == "t3"


def test_an_answer_after_the_outbox_was_spooled_removes_nothing():
    outbox = filled(3)
    request = outbox.next_request()
    assert request is not None
    spooled: list[dict[str, Any]] = []
    outbox.drain_to(spooled.append)  # the closing thread took over
    assert [r["kind"] for r in spooled] == ["measurements", "prediction", "finish"]
    assert len(spooled[0]["items"]) == 3  # the chunk in flight too: resent, deduplicated
    outbox.add("measurement", m(9))
    outbox.settle_chunk(request[1], done=True)  # the stuck request came back
    assert outbox.measurement_count() == 1


def test_drain_to_writes_in_delivery_order_with_extra_keys_and_keeps_what_failed():
    outbox = filled(2)
    written: list[dict[str, Any]] = []

    def write(record: dict[str, Any]) -> None:
        if record["kind"] == "prediction":
            raise OSError("disk full")
        written.append(record)

    with pytest.raises(OSError):
        outbox.drain_to(write, rejected={"status": 400})
    assert [r["kind"] for r in written] == ["measurements"]
    assert written[0]["rejected"] == {"status": 400}
    assert outbox.measurement_count() == 0 and outbox.has_body()
    outbox.drain_to(written.append)
    assert [r["kind"] for r in written] == ["measurements", "prediction", "finish"]
    assert outbox.is_empty()


def test_spool_records_round_trip_through_an_outbox():
    records = [
        {"kind": "header", "v": 1, "run": {"run_key": "k"}},
        {"kind": "finish", "body": {"status": "finished"}},
        {"kind": "measurements", "items": [m(0), m(1)]},
        {"kind": "prediction", "body": {"epochs_done": 1}},
        {"kind": "measurements", "items": [m(2)], "rejected": {"status": 400}},
        {"kind": "prediction", "body": {"epochs_done": 2}},
    ]
    outbox = Outbox.from_records(json.loads(json.dumps(records)))
    out: list[dict[str, Any]] = []
    outbox.drain_to(out.append)
    assert out == [
        {"kind": "measurements", "items": [m(0), m(1), m(2)]},
        {"kind": "prediction", "body": {"epochs_done": 2}},
        {"kind": "finish", "body": {"status": "finished"}},
    ]


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        Outbox().add("tail", {})


def test_a_spool_replay_uses_the_same_order(tmp_path):
    """A file whose finish line comes first is still replayed measurements-first."""
    from tracker_client._spool import replay_file

    path = tmp_path / "run.jsonl"
    lines = [
        {"kind": "header", "v": 1, "hub_url": None, "run": {"run_key": "k"}},
        {"kind": "finish", "body": {"status": "failed"}},
        {"kind": "prediction", "body": {"epochs_done": 1}},
        {"kind": "measurements", "items": [m(0), m(1)]},
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    transport = Recorder()
    assert replay_file(path, lambda url: transport) == (True, 2, 0)
    assert [name for name, _ in transport.calls] == [
        "create_run",
        "measurements",
        "prediction",
        "finish",
    ]
    assert not path.exists()
