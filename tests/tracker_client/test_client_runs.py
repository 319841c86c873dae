from __future__ import annotations

import sys
import time

import pytest

from tracker_client import Tracker, track
from tracker_client._tracker import run_identity

API_KEY = "ehi_test_key"


def test_ranks_take_their_run_key_from_torchelastic_then_slurm():
    assert (
        run_identity(None, {"TORCHELASTIC_RUN_ID": "abc", "RANK": "3", "WORLD_SIZE": "8"})[
            "run_key"
        ]
        == "torchelastic-abc"
    )
    ident = run_identity(
        None,
        {
            "SLURM_JOB_ID": "42",
            "SLURM_PROCID": "5",
            "SLURM_NTASKS": "8",
            "SLURM_JOB_NUM_NODES": "2",
        },
    )
    assert (ident["run_key"], ident["rank"], ident["rank_count"], ident["node_count"]) == (
        "slurm-42",
        5,
        8,
        2,
    )
    assert run_identity("mine", {"SLURM_JOB_ID": "42"})["run_key"] == "mine"
    assert (
        run_identity(
            None, {"SLURM_ARRAY_JOB_ID": "7", "SLURM_ARRAY_TASK_ID": "2", "SLURM_JOB_ID": "9"}
        )["run_key"]
        == "slurm-7_2"
    )
    a, b = run_identity(None, {"TORCHELASTIC_RUN_ID": "none"}), run_identity(None, {})
    assert a["run_key"] != b["run_key"] and len(a["run_key"]) == 36


def test_all_ranks_join_one_run_and_only_rank_zero_finishes_it(hub, sensors_factory, monkeypatch):
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job-7")
    monkeypatch.setenv("WORLD_SIZE", "2")
    trackers = []
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        trackers.append(
            Tracker(
                experiment="ddp",
                hub_url=hub.url,
                api_key=API_KEY,
                country="FRA",
                interval_s=0.05,
                sensors=sensors_factory(),
            ).start()
        )
    time.sleep(0.3)
    for t in reversed(trackers):
        t.stop()
    assert list(hub.by_key) == ["torchelastic-job-7"]
    assert {m["rank"] for m in hub.measurements.values()} == {0, 1}
    hub.assert_contiguous()
    assert hub.total_kwh() == pytest.approx(sum(t.energy_kwh for t in trackers), abs=1e-12)
    assert len(hub.finishes) == 1
    assert next(iter(hub.runs.values()))["payload"]["rank_count"] == 2


def test_the_total_energy_is_predicted_from_the_first_epochs(hub, sensors_factory, monkeypatch):
    monkeypatch.setattr("tracker_client._records.MIN_TAIL_S", 0.0)  # epochs of 50 ms
    with Tracker(
        experiment="e",
        hub_url=hub.url,
        api_key=API_KEY,
        country="FRA",
        interval_s=60,
        epochs_total=10,
        sensors=sensors_factory(),
    ) as tracker:
        for _ in range(3):
            time.sleep(0.05)
            tracker.epoch_end()
        tracker.log_metrics({"accuracy": 0.9})
    assert hub.predictions and hub.predictions[-1][1]["epochs_done"] == 3
    last = hub.predictions[-1][1]
    energies = tracker.epoch_energies_kwh
    assert last["predicted_energy_kwh"] == pytest.approx(sum(energies) / 3 * 10)
    assert last["epochs_total"] == 10
    assert [m.get("epoch") for m in hub.items()] == [0, 1, 2, 3]
    assert hub.finishes[-1][1]["metrics"] == {"accuracy": 0.9}


def test_a_summary_can_be_printed_every_few_minutes(hub, sensors_factory, capsys):
    with Tracker(
        experiment="e",
        hub_url=hub.url,
        api_key=API_KEY,
        country="FRA",
        interval_s=0.05,
        summary_every_min=0.005,
        sensors=sensors_factory(),
    ):
        time.sleep(0.5)
    err = capsys.readouterr().err
    assert " running, " in err and " finished, " in err


def test_a_locally_generated_run_key_makes_a_run_of_one_rank():
    ident = run_identity(None, {"RANK": "2", "WORLD_SIZE": "4"})
    assert ident["key_is_local"] and ident["rank"] == 2 and ident["rank_count"] == 1
    shared = run_identity(None, {"SLURM_JOB_ID": "7", "RANK": "2", "WORLD_SIZE": "4"})
    assert not shared["key_is_local"] and shared["rank_count"] == 4
    elastic_none = run_identity(None, {"TORCHELASTIC_RUN_ID": "none", "RANK": "1"})
    assert elastic_none["key_is_local"]
    assert not run_identity("mine", {"RANK": "1", "WORLD_SIZE": "2"})["key_is_local"]


def test_without_a_shared_run_key_a_rank_other_than_zero_finishes_and_predicts_its_run(
    hub, sensors_factory, monkeypatch
):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with Tracker(
        experiment="e",
        hub_url=hub.url,
        api_key=API_KEY,
        country="FRA",
        interval_s=60,
        epochs_total=2,
        sensors=sensors_factory(),
    ) as tracker:
        time.sleep(0.6)
        tracker.epoch_end()
    run = next(iter(hub.runs.values()))
    assert run["payload"]["rank_count"] == 1
    assert hub.finishes and hub.finishes[-1][1]["status"] == "finished"
    assert run["status"] == "finished"
    assert hub.predictions and hub.predictions[-1][1]["predicted_energy_kwh"] == pytest.approx(
        tracker.epoch_energies_kwh[0] * 2
    )


def test_a_shared_run_is_still_finished_by_rank_zero_only(hub, sensors_factory, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with Tracker(
        experiment="e",
        hub_url=hub.url,
        api_key=API_KEY,
        run_key="shared",
        interval_s=60,
        sensors=sensors_factory(),
    ):
        pass
    assert not hub.finishes
    assert next(iter(hub.runs.values()))["payload"]["rank_count"] == 2


@pytest.mark.parametrize(
    ("code", "status"), [(0, "finished"), (None, "finished"), (2, "failed"), ("bye", "failed")]
)
def test_sys_exit_zero_finishes_the_run_and_a_non_zero_exit_fails_it(
    hub, sensors_factory, code, status
):
    options = dict(experiment="e", hub_url=hub.url, api_key=API_KEY, interval_s=60, summary=False)
    with pytest.raises(SystemExit), Tracker(**options, sensors=sensors_factory()):
        sys.exit(code)
    assert hub.finishes[-1][1]["status"] == status

    @track(**options, sensors=sensors_factory())
    def train():
        sys.exit(code)

    with pytest.raises(SystemExit):
        train()
    assert len(hub.finishes) == 2 and hub.finishes[-1][1]["status"] == status
