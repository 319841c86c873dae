from __future__ import annotations
import __future__

import inspect
import subprocess
import sys
import tomllib
from pathlib import Path

import tracker_client
from tracker_client import Tracker

ROOT = Path(__file__).resolve().parents[2]


def test_the_public_api_is_exactly_tracker_track_and_version():
    assert sorted(tracker_client.__all__) == ["Tracker", "__version__", "track"]
    public = {
        n
        for n in dir(tracker_client)
        if not n.startswith("_")
        and not inspect.ismodule(getattr(tracker_client, n))
        and not isinstance(getattr(tracker_client, n), __future__._Feature)
    }
    assert public == {"Tracker", "track"}


def test_the_tracker_signature_is_stable():
    assert str(inspect.signature(Tracker)) == (
        "(experiment: 'str | None' = None, *, hub_url: 'str | None' = None, "
        "api_key: 'str | None' = None, run_key: 'str | None' = None, name: 'str | None' = None, "
        "country: 'str | None' = None, region: 'str | None' = None, "
        "cloud_provider: 'str | None' = None, cloud_region: 'str | None' = None, "
        "pue: 'float | None' = None, interval_s: 'float | None' = None, "
        "params: 'dict[str, Any] | None' = None, tags: 'list[str] | None' = None, "
        "epochs_total: 'int | None' = None, predict_after_epochs: 'int | None' = None, "
        "summary: 'bool | None' = None, summary_every_min: 'float | None' = None, "
        "measure_mode: 'str | None' = None, gpu_ids: 'list[str] | None' = None, "
        "spool_dir: 'str | None' = None, timeout_s: 'float | None' = None, "
        "flush_timeout_s: 'float | None' = None, no_cloud_detect: 'bool | None' = None, "
        "handle_signals: 'bool | None' = None, pid: 'int | None' = None, sensors: 'Any' = None, "
        "transport: 'Transport | None' = None) -> 'None'"
    )
    public_methods = {n for n in vars(Tracker) if not n.startswith("_")}
    assert public_methods == {
        "start",
        "stop",
        "epoch_end",
        "log_metrics",
        "energy_kwh",
        "summary_text",
    }


def test_the_package_version_matches_its_pyproject():
    meta = tomllib.loads((ROOT / "tracker_client" / "pyproject.toml").read_text())
    assert meta["project"]["version"] == tracker_client.__version__
    assert meta["project"]["dependencies"] == ["requests>=2.25"]


def test_importing_the_client_loads_neither_django_nor_torch_nor_requests():
    code = (
        "import sys, tracker_client; "
        "bad = [m for m in ('django', 'torch', 'requests', 'psutil', 'pynvml', 'lightning', "
        "'transformers') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_client_source_never_mentions_the_server_packages():
    for path in (ROOT / "tracker_client").rglob("*.py"):
        text = path.read_text()
        assert "import django" not in text and "from django" not in text, path
        assert "emissions_hub" not in text, path


def test_track_wraps_a_function_in_a_tracker(sensors_factory, monkeypatch):
    seen = []

    def start(self):
        seen.append("start")
        return self

    monkeypatch.setattr(Tracker, "start", start)
    monkeypatch.setattr(Tracker, "stop", lambda self, status=None: seen.append(status))

    @tracker_client.track(experiment="x")
    def train(a, b=2):
        return a + b

    @tracker_client.track
    def other():
        return "ok"

    assert train(1) == 3 and train.__name__ == "train"
    assert other() == "ok"
    assert seen == ["start", "finished", "start", "finished"]


def test_errors_inside_the_tracker_never_reach_training(monkeypatch, sensors_factory):
    class Broken:
        hardware: dict = {}

        def read(self):
            raise RuntimeError("sensor bug")

    tracker = Tracker(experiment="x", sensors=Broken(), interval_s=0.01)
    with tracker:
        tracker.epoch_end()
        tracker.log_metrics({"acc": object()})
    assert tracker._stopped
