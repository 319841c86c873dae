"""Configuration: arguments, then ``EMISSIONS_HUB_*`` environment, then a TOML file."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger("tracker_client")

ENV_PREFIX = "EMISSIONS_HUB_"


@dataclasses.dataclass
class Config:
    """Every option the client understands, with its default."""

    experiment: str | None = None
    hub_url: str | None = None
    api_key: str | None = None
    run_key: str | None = None
    name: str | None = None
    country: str | None = None
    region: str | None = None
    cloud_provider: str | None = None
    cloud_region: str | None = None
    pue: float | None = None
    interval_s: float = 10.0
    params: dict[str, Any] | None = None
    tags: list[str] | None = None
    epochs_total: int | None = None
    predict_after_epochs: int = 1
    summary: bool = True
    summary_every_min: float | None = None
    measure_mode: str = "process"  # "process" (this process tree) or "machine"
    gpu_ids: list[str] | None = None
    spool_dir: str | None = None
    timeout_s: float = 10.0
    flush_timeout_s: float = 5.0
    batch_wait_s: float = 10.0  # env/file only: how long the worker gathers measurements
    no_cloud_detect: bool = False
    handle_signals: bool = True


_FIELDS = {f.name: f for f in dataclasses.fields(Config)}
_FLOATS = {
    "pue",
    "interval_s",
    "summary_every_min",
    "timeout_s",
    "flush_timeout_s",
    "batch_wait_s",
}
# Options that may be 0 (no wait, no batching, no periodic summary); the others must be > 0.
_ZERO_OK = {"flush_timeout_s", "batch_wait_s", "summary_every_min"}
PUE_RANGE = (1.0, 3.0)  # carbon.MIN_PUE, MAX_PUE (tests/tracker_client/test_client_limits.py)
MAX_TAGS, MAX_TAG_CHARS, MAX_NAME_CHARS = 50, 100, 200  # the hub's limits
_INTS = {"epochs_total", "predict_after_epochs"}
_BOOLS = {"summary", "no_cloud_detect", "handle_signals"}
_LISTS = {"tags", "gpu_ids"}


def config_files(cwd: Path | None = None) -> list[Path]:
    """Config files in increasing priority: the user's file, then the project's."""
    explicit = os.environ.get(ENV_PREFIX + "CONFIG")
    if explicit:
        return [Path(explicit).expanduser()]
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [
        Path(xdg) / "emissions-hub" / "config.toml",
        (cwd or Path.cwd()) / ".emissions-hub.toml",
    ]


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("tracker_client: ignoring unreadable config file %s: %s", path, exc)
        return {}
    # Accept both a flat file and one with a [tracker] table.
    table = data.get("tracker", data)
    return dict(table) if isinstance(table, dict) else {}


def _coerce(name: str, value: Any) -> Any:
    """Turn a value from env or file into the option's type; raise ValueError if bad."""
    if value is None:
        return None
    if name in _FLOATS:
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a number")
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a finite number")
        if name == "pue":
            if not PUE_RANGE[0] <= number <= PUE_RANGE[1]:
                raise ValueError(f"PUE must be within [{PUE_RANGE[0]:g}, {PUE_RANGE[1]:g}]")
        elif number < 0 or (number == 0 and name not in _ZERO_OK):
            raise ValueError(f"{value!r} must be {'>= 0' if name in _ZERO_OK else '> 0'}")
        return number
    if name in _INTS:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{value!r} is not an integer")
        return int(value)
    if name in _BOOLS:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off", ""}:
            return False
        raise ValueError(f"{value!r} is not a boolean")
    if name in _LISTS:
        if isinstance(value, str):
            items = [part.strip() for part in value.split(",") if part.strip()]
        else:
            items = [str(v) for v in value]
        if name == "tags":
            if len(items) > MAX_TAGS:
                raise ValueError(f"at most {MAX_TAGS} tags")
            if any(len(tag) > MAX_TAG_CHARS for tag in items):
                raise ValueError(f"a tag has at most {MAX_TAG_CHARS} characters")
        return items
    if name == "params":
        if isinstance(value, str):
            value = json.loads(value)
        if not isinstance(value, dict):
            raise ValueError("params must be a JSON object")
        return value
    text = str(value)
    if name == "name" and len(text) > MAX_NAME_CHARS:
        raise ValueError(f"a name has at most {MAX_NAME_CHARS} characters")
    return text


def _layer(source: Mapping[str, Any], origin: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, raw in source.items():
        if key not in _FIELDS:
            if origin != "environment":
                logger.warning("tracker_client: unknown option %r in %s", key, origin)
            continue
        try:
            out[key] = _coerce(key, raw)
        except (TypeError, ValueError) as exc:
            # A bad telemetry setting must not stop training: say so and use the default.
            logger.warning("tracker_client: ignoring %s=%r from %s: %s", key, raw, origin, exc)
    return out


def env_name(option: str) -> str:
    """EMISSIONS_HUB_<OPTION>; the hub URL is EMISSIONS_HUB_URL."""
    return ENV_PREFIX + ("URL" if option == "hub_url" else option.upper())


def env_options(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    environ = os.environ if environ is None else environ
    found = {name: environ[env_name(name)] for name in _FIELDS if env_name(name) in environ}
    return _layer(found, "environment")


def load_config(
    arguments: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    files: list[Path] | None = None,
) -> Config:
    """Merge options: arguments win over the environment, which wins over config files."""
    merged: dict[str, Any] = {}
    for path in files if files is not None else config_files():
        merged.update(_layer(_read_toml(path), str(path)))
    merged.update(env_options(environ))
    merged.update(
        _layer({k: v for k, v in (arguments or {}).items() if v is not None}, "arguments")
    )
    config = Config(**merged)
    if config.interval_s <= 0:
        logger.warning("tracker_client: interval_s must be positive; using 10 s")
        config.interval_s = 10.0
    if config.measure_mode not in {"process", "machine"}:
        logger.warning("tracker_client: measure_mode must be process or machine; using process")
        config.measure_mode = "process"
    if config.hub_url:
        config.hub_url = config.hub_url.rstrip("/")
    return config


def default_spool_dir(config: Config | None = None) -> Path:
    if config is not None and config.spool_dir:
        return Path(config.spool_dir).expanduser()
    env = os.environ.get(ENV_PREFIX + "SPOOL_DIR")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "emissions-hub" / "spool"
