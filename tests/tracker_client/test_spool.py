"""The spool file on its own (tracker_client._spool): write-ahead, retiring, replay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tracker_client import _spool
from tracker_client._delivery import Outbox
from tracker_client._spool import SpoolFile, replay_dir, replay_file


class Recorder:
    """A transport that logs every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def create_run(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("create_run", payload["run_key"]))
        return {"id": "r1"}

    def post_measurements(self, run_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(("measurements", [m["uuid"] for m in items]))
        return {}

    def prediction(self, run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("prediction", body))
        return {}

    def finish(self, run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("finish", body))
        return {}

    def close(self) -> None:
        pass


def m(n: int, **extra: Any) -> dict[str, Any]:
    return {"uuid": f"u{n}", "seq": n, "rank": 0, **extra}


def header(finishes_run: bool = True) -> dict[str, Any]:
    return {
        "kind": "header",
        "v": 1,
        "hub_url": None,
        "run": {"run_key": "k"},
        "finishes_run": finishes_run,
    }


def write(path: Path, *records: dict[str, Any], tail: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


# ---------------------------------------------------------------- replay


def test_a_killed_runs_file_is_delivered_torn_line_aside_and_the_run_ended_failed(tmp_path):
    path = tmp_path / "run.jsonl"
    batch = {"kind": "measurements", "items": [m(0)]}
    torn = json.dumps({"kind": "measurements", "items": [m(2)]})[:25]  # killed mid-write
    write(path, header(), batch, {"kind": "measurements", "items": [m(1)]}, tail=torn)
    transport = Recorder()
    assert replay_file(path, lambda url: transport) == (True, 2, 0)
    assert transport.calls == [
        ("create_run", "k"),
        ("measurements", ["u0", "u1"]),
        ("finish", {"status": "failed"}),  # its process died without finishing it
    ]
    assert not path.exists()


def test_a_replay_ends_only_the_runs_whose_finishing_process_died(tmp_path):
    finished = [header(), {"kind": "finish", "body": {"status": "finished"}}]
    other_rank = [header(finishes_run=False), {"kind": "measurements", "items": [m(0)]}]
    killed = [header(), {"kind": "measurements", "items": [m(1)]}]
    finishes = {}
    for name, records in (("finished", finished), ("other", other_rank), ("killed", killed)):
        write(tmp_path / f"{name}.jsonl", *records)
        transport = Recorder()
        assert replay_file(tmp_path / f"{name}.jsonl", lambda url: transport)[0] is True
        finishes[name] = [body for call, body in transport.calls if call == "finish"]
    assert finishes == {
        "finished": [{"status": "finished"}],
        "other": [],
        "killed": [{"status": "failed"}],
    }


def test_a_header_alone_of_a_killed_run_finishes_it_and_an_empty_file_is_removed(tmp_path):
    killed, other, empty = (tmp_path / f"{n}.jsonl" for n in ("killed", "other", "empty"))
    write(killed, header())  # everything was delivered before the kill
    write(other, header(finishes_run=False))
    write(empty)  # a kill before the header was written
    transport = Recorder()
    result = replay_dir(tmp_path, lambda url: transport)
    assert result.files_done == 3 and result.files_left == 0
    assert transport.calls == [("create_run", "k"), ("finish", {"status": "failed"})]
    assert list(tmp_path.iterdir()) == []


def test_a_live_file_stays_locked_through_a_compaction(tmp_path, monkeypatch):
    monkeypatch.setattr(_spool, "COMPACT_BYTES", 0)
    spool = SpoolFile(tmp_path, "live", {"v": 1, "run": {"run_key": "k"}, "finishes_run": True})
    first = spool.append({"kind": "measurements", "items": [m(0)]})
    spool.append({"kind": "measurements", "items": [m(1)]})
    inode = spool.path.stat().st_ino
    spool.retire([first])  # rewritten: a new file renamed over the old one
    assert spool.path.stat().st_ino != inode
    assert [r.get("items") for r in lines(spool.path)] == [None, [m(1)]]
    transport = Recorder()
    assert replay_file(spool.path, lambda url: transport) == (False, 0, 0)
    assert transport.calls == [] and spool.path.exists()
    spool.close(delivered_all=False)
    assert replay_file(spool.path, lambda url: transport) == (True, 1, 0)


def test_a_compaction_copy_left_by_a_kill_is_removed(tmp_path):
    write(
        tmp_path / "run.jsonl",
        header(finishes_run=False),
        {"kind": "measurements", "items": [m(0)]},
    )
    write(tmp_path / "run.jsonl.new", header(finishes_run=False))
    transport = Recorder()
    assert replay_dir(tmp_path, lambda url: transport).measurements == 1
    assert list(tmp_path.iterdir()) == []


def test_a_measurement_written_again_replaces_the_first_in_its_place():
    records = [
        {"kind": "measurements", "items": [m(0, end="t1")]},
        {"kind": "measurements", "items": [m(1)]},
        {"kind": "measurements", "items": [m(0, end="t2")]},  # a short tail merged into u0
    ]
    outbox = Outbox.from_records(records)
    request = outbox.next_request()
    assert request is not None
    assert [(x["uuid"], x.get("end")) for x in request[1]] == [("u0", "t2"), ("u1", None)]


# ---------------------------------------------------------------- the live file


def test_retired_lines_leave_the_file_and_offsets_survive_the_cut(tmp_path):
    spool = SpoolFile(tmp_path, "run", {"v": 1, "run": {"run_key": "k"}})
    first = spool.append({"kind": "measurements", "items": [m(0)]})
    second = spool.append({"kind": "measurements", "items": [m(1)]})
    assert first is not None and second is not None and second > first
    spool.retire([first, second])
    assert [r["kind"] for r in lines(spool.path)] == ["header"]
    third = spool.append({"kind": "measurements", "items": [m(2)]})
    assert third is not None and third > second  # offsets never go back
    assert spool.read(spool.end) == ([{"kind": "measurements", "items": [m(2)]}], [third])
    spool.append({"kind": "finish", "body": {"status": "finished"}})
    spool.retire([third])
    assert spool.path.exists()  # the finish is not acknowledged yet
    spool.retire(spool.read(spool.end)[1])
    assert not spool.path.exists()


def test_a_line_always_pending_still_keeps_the_file_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(_spool, "COMPACT_BYTES", 2000)
    spool = SpoolFile(tmp_path, "run", {"v": 1, "run": {"run_key": "k"}})
    previous = None
    for n in range(300):  # a slow hub: a new interval always arrives before the answer
        line = spool.append({"kind": "measurements", "items": [m(n, pad="x" * 100)]})
        spool.retire([previous])
        previous = line
        assert spool.path.stat().st_size < 2000 + 400
    records, starts = spool.read(spool.end)
    assert starts == [previous] and records[0]["items"][0]["uuid"] == "u299"
    spool.close(delivered_all=False)
    transport = Recorder()
    assert replay_file(spool.path, lambda url: transport)[0]
    sent = [u for name, value in transport.calls if name == "measurements" for u in value]
    assert "u299" in sent and len(sent) < 30


def test_a_refreshed_header_is_rewritten_keeping_the_pending_lines(tmp_path):
    run = {"run_key": "k", "cloud_provider": None}
    spool = SpoolFile(tmp_path, "run", lambda: {"v": 1, "run": run})
    start = spool.append({"kind": "measurements", "items": [m(0)]})
    run = {**run, "cloud_provider": "gcp"}  # the location settled after the first write
    spool.refresh_header()
    records = lines(spool.path)
    assert records[0]["run"]["cloud_provider"] == "gcp"
    assert records[1:] == [{"kind": "measurements", "items": [m(0)]}]
    spool.retire([start])  # the line kept its offset
    assert not spool.has_pending() and len(lines(spool.path)) == 1


def test_an_unwritable_spool_is_logged_once_and_a_forked_child_writes_nothing(tmp_path, caplog):
    (tmp_path / "file").write_text("")
    broken = SpoolFile(tmp_path / "file" / "spool", "run", {"v": 1, "run": {}})
    assert broken.append({"kind": "finish", "body": {}}) is None
    assert broken.append({"kind": "finish", "body": {}}) is None
    assert caplog.text.count("cannot write the spool") == 1
    spool = SpoolFile(tmp_path, "run", {"v": 1, "run": {}})
    spool._pid = -1  # as in a forked child
    assert spool.append({"kind": "finish", "body": {}}) is None
    assert not spool.path.exists()
