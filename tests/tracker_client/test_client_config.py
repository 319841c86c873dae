from __future__ import annotations

from pathlib import Path

from tracker_client import Tracker
from tracker_client._config import default_spool_dir, load_config


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_arguments_win_over_environment_which_wins_over_files(tmp_path, monkeypatch):
    write(
        tmp_path / "config" / "emissions-hub" / "config.toml",
        'hub_url = "http://home"\napi_key = "ehi_home"\nexperiment = "home"\ncountry = "DEU"\npue = 1.5\n',
    )
    write(tmp_path / ".emissions-hub.toml", 'hub_url = "http://project"\nexperiment = "project"\n')
    monkeypatch.setenv("EMISSIONS_HUB_EXPERIMENT", "from-env")
    monkeypatch.setenv("EMISSIONS_HUB_API_KEY", "ehi_env")
    monkeypatch.setenv("EMISSIONS_HUB_PUE", "1.3")

    config = Tracker(experiment="from-arg").config
    assert config.experiment == "from-arg"
    assert config.api_key == "ehi_env"
    assert config.pue == 1.3
    assert config.hub_url == "http://project"
    assert config.country == "DEU"


def test_every_option_has_an_environment_variable(monkeypatch):
    monkeypatch.setenv("EMISSIONS_HUB_URL", "http://hub:8000/")
    monkeypatch.setenv("EMISSIONS_HUB_INTERVAL_S", "2.5")
    monkeypatch.setenv("EMISSIONS_HUB_EPOCHS_TOTAL", "12")
    monkeypatch.setenv("EMISSIONS_HUB_TAGS", "a, b")
    monkeypatch.setenv("EMISSIONS_HUB_PARAMS", '{"lr": 0.1}')
    monkeypatch.setenv("EMISSIONS_HUB_SUMMARY", "false")
    monkeypatch.setenv("EMISSIONS_HUB_CLOUD_REGION", "eu-west-3")
    config = load_config({})
    assert config.hub_url == "http://hub:8000"
    assert (config.interval_s, config.epochs_total) == (2.5, 12)
    assert config.tags == ["a", "b"] and config.params == {"lr": 0.1}
    assert config.summary is False and config.cloud_region == "eu-west-3"


def test_a_bad_value_is_logged_and_the_default_kept(monkeypatch, caplog):
    monkeypatch.setenv("EMISSIONS_HUB_INTERVAL_S", "often")
    monkeypatch.setenv("EMISSIONS_HUB_MEASURE_MODE", "galaxy")
    config = load_config({})
    assert config.interval_s == 10.0 and config.measure_mode == "process"
    assert "EMISSIONS_HUB" not in caplog.text or "interval_s" in caplog.text


def test_a_config_file_may_use_a_tracker_table_and_an_explicit_path(tmp_path, monkeypatch):
    path = write(tmp_path / "elsewhere.toml", '[tracker]\nexperiment = "tabled"\ninterval_s = 3\n')
    monkeypatch.setenv("EMISSIONS_HUB_CONFIG", str(path))
    config = load_config({})
    assert config.experiment == "tabled" and config.interval_s == 3.0


def test_the_spool_directory_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("EMISSIONS_HUB_SPOOL_DIR", str(tmp_path / "s"))
    assert default_spool_dir() == tmp_path / "s"
    monkeypatch.delenv("EMISSIONS_HUB_SPOOL_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_spool_dir() == tmp_path / "cache" / "emissions-hub" / "spool"


def test_out_of_range_values_are_logged_and_the_defaults_kept(caplog):
    config = load_config(
        {
            "pue": 5.0,
            "interval_s": float("nan"),
            "timeout_s": float("inf"),
            "flush_timeout_s": -1.0,
            "tags": [f"t{i}" for i in range(51)],
            "name": "n" * 201,
        },
        environ={},
        files=[],
    )
    assert config.pue is None and config.interval_s == 10.0 and config.timeout_s == 10.0
    assert config.flush_timeout_s == 5.0 and config.tags is None and config.name is None
    for option in ("pue", "interval_s", "timeout_s", "flush_timeout_s", "tags", "name"):
        assert f"ignoring {option}=" in caplog.text
    assert load_config({"tags": ["x" * 101]}, environ={}, files=[]).tags is None
    assert load_config({"pue": 0.9}, environ={}, files=[]).pue is None


def test_a_bad_value_from_the_environment_falls_back_to_the_file(tmp_path, monkeypatch):
    path = write(tmp_path / "c.toml", "interval_s = 2\npue = 1.4\n")
    config = load_config(
        {}, environ={"EMISSIONS_HUB_INTERVAL_S": "nan", "EMISSIONS_HUB_PUE": "inf"}, files=[path]
    )
    assert config.interval_s == 2.0 and config.pue == 1.4


def test_values_in_range_are_kept():
    config = load_config(
        {"pue": 3.0, "interval_s": 0.5, "tags": ["a" * 100] * 50, "name": "n" * 200},
        environ={"EMISSIONS_HUB_BATCH_WAIT_S": "0", "EMISSIONS_HUB_FLUSH_TIMEOUT_S": "0"},
        files=[],
    )
    assert config.pue == 3.0 and config.interval_s == 0.5 and len(config.tags or []) == 50
    assert config.batch_wait_s == 0.0 and config.flush_timeout_s == 0.0
