"""Tracker: the public API; samples the sensors and produces the run's records.

Owns the measuring side: start/stop and the exit hooks (atexit, signals, excepthook,
fork), the sampling thread, the records (the run to create, each interval's
measurement with its per-rank ``seq``, the prediction, the finish call) and the console
summary. It hands records to its Worker (``submit``/``submit_tail``) and only reads the
Worker's public ``run`` (the hub's answer) for the summary; delivery is the Worker's.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import functools
import logging
import math
import os
import signal
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from . import _records
from ._config import Config, default_spool_dir, load_config
from ._records import RunRecord, merge_measurements
from ._spool import SpoolFile, replay_dir
from ._transport import Transport, TransportFactory
from ._worker import Worker

if TYPE_CHECKING:
    from ._sensors import Reading

logger = logging.getLogger("tracker_client")

F = TypeVar("F", bound=Callable[..., Any])

_LIVE: weakref.WeakSet[Tracker] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A forked child (a DataLoader worker...) must neither send nor flush the parent's data.
    for tracker in list(_LIVE):
        tracker._disable_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def run_identity(run_key: str | None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run key, rank, node and world sizes so that every rank of a job joins one run.

    Run key: the user's, else ``torchelastic-$TORCHELASTIC_RUN_ID``, else
    ``slurm-$SLURM_JOB_ID`` (array jobs: ``slurm-<array>_<task>``), else a fresh UUID.
    Rank: ``RANK``, else ``SLURM_PROCID``, else 0. Node: the host name.

    With a fresh UUID no other rank can join the run, so ``key_is_local`` is True and the
    run counts one rank: this process finishes it and predicts for it, whatever its rank.
    """
    import socket

    env = os.environ if environ is None else environ
    key = run_key
    local = False
    if not key:
        elastic = env.get("TORCHELASTIC_RUN_ID", "")
        if elastic and elastic.lower() != "none":
            key = f"torchelastic-{elastic}"
        elif env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
            key = f"slurm-{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
        elif env.get("SLURM_JOB_ID"):
            key = f"slurm-{env['SLURM_JOB_ID']}"
        else:
            key = str(uuid.uuid4())
            local = True

    def as_int(*names: str) -> int | None:
        for name in names:
            try:
                return int(env[name])
            except (KeyError, ValueError):
                continue
        return None

    return {
        "run_key": key,
        "key_is_local": local,
        "rank": as_int("RANK", "SLURM_PROCID") or 0,
        "node": socket.gethostname(),
        "rank_count": 1 if local else as_int("WORLD_SIZE", "SLURM_NTASKS"),
        "node_count": 1
        if local
        else as_int("GROUP_WORLD_SIZE", "SLURM_JOB_NUM_NODES", "SLURM_NNODES"),
    }


def _default_experiment() -> str:
    script = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else ""
    return script if script and script not in {"-c", "-m", "pytest", "__main__"} else "default"


class Tracker:
    """Measures the energy of this process tree (or another's) and sends it to the hub.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. Arguments win over
    ``EMISSIONS_HUB_<OPTION>`` environment variables, which win over the config file.
    Nothing here raises into the training code or blocks it on the network.
    """

    def __init__(
        self,
        experiment: str | None = None,
        *,
        hub_url: str | None = None,
        api_key: str | None = None,
        run_key: str | None = None,
        name: str | None = None,
        country: str | None = None,
        region: str | None = None,
        cloud_provider: str | None = None,
        cloud_region: str | None = None,
        pue: float | None = None,
        interval_s: float | None = None,
        params: dict[str, Any] | None = None,
        tags: list[str] | None = None,
        epochs_total: int | None = None,
        predict_after_epochs: int | None = None,
        summary: bool | None = None,
        summary_every_min: float | None = None,
        measure_mode: str | None = None,
        gpu_ids: list[str] | None = None,
        spool_dir: str | None = None,
        timeout_s: float | None = None,
        flush_timeout_s: float | None = None,
        no_cloud_detect: bool | None = None,
        handle_signals: bool | None = None,
        pid: int | None = None,
        sensors: Any = None,
        transport: Transport | None = None,
    ) -> None:
        arguments = {
            k: v for k, v in locals().items() if k not in {"self", "pid", "sensors", "transport"}
        }
        self.config: Config = load_config(arguments)
        self.pid = pid
        self._sensors = sensors
        self._transport = transport
        self._lock = threading.RLock()
        self._started = False
        self._stopped = False
        self._disabled = False
        self._failed = False
        self._metrics: dict[str, Any] = {}
        self._seq = 0
        self._epoch = 0
        self._epoch_kwh = 0.0
        self.epoch_energies_kwh: list[float] = []
        self.totals_kwh = {"cpu": 0.0, "gpu": 0.0, "ram": 0.0}
        self.measurements: list[dict[str, Any]] = []  # kept only when keep_local is set
        self.keep_local = False
        self.worker: Worker | None = None
        self.spool: SpoolFile | None = None
        self._transports: TransportFactory | None = None
        self._sampler: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._replay_stop = threading.Event()
        self._prev_handlers: dict[int, Any] = {}
        self._prev_excepthook: Any = None
        self._owner_pid = os.getpid()
        self.identity: dict[str, Any] = {}
        self._t0_wall = 0.0
        self._t0_mono = 0.0
        self._interval_start = 0.0

    # ------------------------------------------------------------------ public

    def start(self) -> Tracker:
        """Start measuring; returns at once (the run is created in the background)."""
        with self._lock:
            if self._started:
                return self
            self._started = True
            try:
                self._start()
            except Exception:
                logger.exception("tracker_client: could not start; training goes on untracked")
                self._disabled = True
        return self

    def stop(self, status: str | None = None) -> None:
        """Send the last partial interval and finish the run; waits at most flush_timeout_s."""
        try:
            self._stop(status)
        except Exception:
            logger.exception("tracker_client: error while stopping")

    def epoch_end(self) -> None:
        """Close the current epoch: its energy is recorded, and a prediction may be sent."""
        if not self._active():
            return
        try:
            with self._lock:
                # An interval shorter than MIN_TAIL_S is not cut: it joins the next one.
                self._sample(min_s=_records.MIN_TAIL_S)
                self.epoch_energies_kwh.append(self._epoch_kwh)
                self._epoch_kwh = 0.0
                self._epoch += 1
                self._maybe_predict()
        except Exception:
            logger.exception("tracker_client: epoch_end failed")

    def log_metrics(self, metrics: Mapping[str, Any]) -> None:
        """Final metrics of the run (accuracy...), sent with the finish call."""
        try:
            for key, value in metrics.items():
                if isinstance(value, (int, float, str, bool)) or value is None:
                    pass
                else:
                    try:
                        value = float(value)
                    except (TypeError, ValueError, OverflowError):
                        value = str(value)
                if isinstance(value, float) and not math.isfinite(value):
                    # JSON has no NaN: the finish call could never be sent.
                    logger.warning(
                        "tracker_client: metric %s=%r is not finite; sent as null", key, value
                    )
                    value = None
                self._metrics[str(key)] = value  # made JSON-safe with the finish record
        except Exception:
            logger.exception("tracker_client: log_metrics failed")

    @property
    def energy_kwh(self) -> float:
        """IT energy measured so far by this tracker (before PUE)."""
        return sum(self.totals_kwh.values())

    def __enter__(self) -> Tracker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop("failed" if _is_failure(exc_type, exc) else "finished")

    # ------------------------------------------------------------------ start

    def _start(self) -> None:
        cfg = self.config
        self.identity = run_identity(cfg.run_key)
        if self._sensors is None:
            from ._sensors import build_sensors

            self._sensors = build_sensors(cfg.measure_mode, self.pid, gpu_ids=cfg.gpu_ids)
        self._t0_wall, self._t0_mono = time.time(), time.monotonic()
        self._interval_start = self._t0_wall
        import platform

        from . import __version__

        payload: dict[str, Any] = {
            "run_key": self.identity["run_key"],
            "experiment": cfg.experiment or _default_experiment(),
            "name": cfg.name,
            "country": cfg.country,
            "region": cfg.region,
            "cloud_provider": cfg.cloud_provider,
            "cloud_region": cfg.cloud_region,
            "pue": cfg.pue,
            "hardware": getattr(self._sensors, "hardware", None),
            "software": {
                "python": platform.python_version(),
                "client": f"tracker_client {__version__}",
            },
            "params": cfg.params,
            "tags": cfg.tags,
            "node_count": self.identity["node_count"],
            "rank_count": self.identity["rank_count"],
            "epochs_total": cfg.epochs_total,
            "started_at": _iso(self._t0_wall),
        }
        location = {"country", "region", "cloud_provider", "cloud_region"}
        payload = {k: v for k, v in payload.items() if v is not None or k in location}
        # JSON-safe (numpy values in params must not block the run); its location is
        # settled by the worker thread, before it creates the run.
        run = RunRecord(payload, detect_cloud=not cfg.no_cloud_detect)
        spool_dir = default_spool_dir(cfg)
        stem = "-".join(
            [
                self.identity["run_key"],
                self.identity["node"],
                f"r{self.identity['rank']}",
                str(os.getpid()),
                uuid.uuid4().hex[:8],
            ]
        )
        self.spool = SpoolFile(spool_dir, stem, functools.partial(self._spool_header, run))
        self._transports = TransportFactory(
            cfg.hub_url, cfg.api_key, cfg.timeout_s, self._transport, self.spool.path
        )
        self.worker = Worker(self._transports, run, self.spool, batch_wait_s=cfg.batch_wait_s)
        self.worker.start()
        if cfg.hub_url or self._transport is not None:
            threading.Thread(
                target=self._replay_old_spool,
                args=(spool_dir,),
                name="tracker_client-replay",
                daemon=True,
            ).start()
        self._sampler = threading.Thread(
            target=self._sample_loop, name="tracker_client-sampler", daemon=True
        )
        self._sampler.start()
        _LIVE.add(self)
        atexit.register(self._atexit)
        self._install_hooks()

    def _spool_header(self, run: RunRecord) -> dict[str, Any]:
        """The spool file's header: what a replay needs to deliver to this run."""
        return {
            "v": 1,
            "hub_url": self.config.hub_url,
            "run": run.payload,
            "finishes_run": self._finishes_run(),
            "run_id": self.worker.run_id if self.worker is not None else None,
        }

    def _replay_old_spool(self, spool_dir: Path) -> None:
        def transport_for(hub_url: str | None) -> Transport | None:
            if hub_url not in (None, self.config.hub_url) or self._transports is None:
                return None
            return self._transports()

        try:
            own = {self.spool.path} if self.spool else set()
            result = replay_dir(spool_dir, transport_for, stop=self._replay_stop, skip=own)
            if result.measurements:
                logger.info(
                    "tracker_client: delivered %d spooled measurement(s) from %d earlier file(s)",
                    result.measurements,
                    result.files_done,
                )
        except Exception:
            logger.exception("tracker_client: replay of the spool failed")

    def _install_hooks(self) -> None:
        self._prev_excepthook = sys.excepthook

        def excepthook(
            tp: type[BaseException], value: BaseException, tb: TracebackType | None
        ) -> None:
            self._failed = True
            (self._prev_excepthook or sys.__excepthook__)(tp, value, tb)

        sys.excepthook = excepthook
        self._excepthook = excepthook
        if (
            not self.config.handle_signals
            or threading.current_thread() is not threading.main_thread()
        ):
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, OSError):
                self._prev_handlers[signum] = signal.signal(signum, self._on_signal)

    def _restore_hooks(self) -> None:
        if getattr(self, "_excepthook", None) is not None and sys.excepthook is self._excepthook:
            sys.excepthook = self._prev_excepthook
        if threading.current_thread() is threading.main_thread():
            for signum, prev in self._prev_handlers.items():
                try:
                    if signal.getsignal(signum) == self._on_signal:
                        signal.signal(signum, prev if prev is not None else signal.SIG_DFL)
                except (ValueError, OSError):
                    pass
        with contextlib.suppress(Exception):
            atexit.unregister(self._atexit)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        prev = self._prev_handlers.get(signum)
        logger.info("tracker_client: signal %d: flushing before stopping", signum)
        self.stop("failed")
        # Then behave as if we were not there, so Ctrl-C still stops training.
        if callable(prev):
            prev(signum, frame)
        elif prev in (signal.SIG_DFL, None):
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    def _atexit(self) -> None:
        if os.getpid() == self._owner_pid:
            self.stop("failed" if self._failed else "finished")

    def _disable_after_fork(self) -> None:
        self._disabled = True
        self._stopped = True
        self._lock = threading.RLock()
        if self.worker is not None:
            self.worker.reset_after_fork()

    # ------------------------------------------------------------------ sampling

    def _active(self) -> bool:
        return self._started and not self._stopped and not self._disabled

    def _sample_loop(self) -> None:
        interval = self.config.interval_s
        needs_poll = bool(getattr(self._sensors, "needs_poll", False))
        tick = min(interval, 1.0) if needs_poll else interval
        next_sample = time.monotonic() + interval
        every = (self.config.summary_every_min or 0) * 60
        next_summary = time.monotonic() + every if every > 0 else float("inf")
        while not self._stop_event.wait(max(0.0, min(tick, next_sample - time.monotonic()))):
            try:
                if needs_poll:
                    self._sensors.poll()
                now = time.monotonic()
                if now >= next_sample:
                    with self._lock:
                        if self._active():
                            self._sample()
                    next_sample += interval
                    if next_sample <= now:  # fell behind (suspended machine...): no burst
                        next_sample = now + interval
                if now >= next_summary:
                    next_summary = now + every
                    self._print_summary(final=False)
            except Exception:
                logger.exception("tracker_client: sampling failed")

    def _sample(self, min_s: float = 0.0, kind: str = "measurement") -> dict[str, Any] | None:
        """Read the sensors for the interval since the previous sample and queue it.

        An interval shorter than ``min_s`` is not cut (the sensors are not read): it goes
        on into the next one.
        """
        from ._sensors import Reading

        start = self._interval_start
        if self._t0_wall + (time.monotonic() - self._t0_mono) - start < min_s:
            return None
        readings: Mapping[str, Reading] = self._sensors.read()
        end = self._t0_wall + (time.monotonic() - self._t0_mono)
        duration = end - start
        if duration <= 0:
            return None
        self._interval_start = end
        ident = self.identity
        m: dict[str, Any] = {
            "uuid": str(uuid.uuid4()),
            "seq": self._seq,
            "node": ident["node"],
            "rank": ident["rank"],
            "start": _iso(start),
            "end": _iso(end),
            "duration_s": round(duration, 6),
        }
        total = 0.0
        for comp in ("cpu", "gpu", "ram"):
            r = readings.get(comp) or Reading(0.0, None, None, "none")
            m[f"{comp}_energy_kwh"] = r.energy_kwh
            m[f"{comp}_power_w"] = None if r.power_w is None else round(r.power_w, 3)
            m[f"{comp}_utilization_pct"] = (
                None if r.utilization_pct is None else round(min(100.0, r.utilization_pct), 2)
            )
            m[f"{comp}_method"] = r.method
            self.totals_kwh[comp] += r.energy_kwh
            total += r.energy_kwh
        if self.config.epochs_total or self._epoch > 0:
            m["epoch"] = self._epoch
        self._epoch_kwh += total
        merged = False
        if self.worker is not None:
            if kind == "tail" and duration < _records.MIN_TAIL_S:
                # Too short to stand alone: folded into the previous measurement if that
                # one still waits for delivery (then it is not a measurement of its own).
                merged = self.worker.submit_tail(m)
            else:
                self.worker.submit("measurement", m)
        if merged:
            if self.keep_local and self.measurements:
                merge_measurements(self.measurements[-1], m)
        else:
            self._seq += 1
            if self.keep_local:
                self.measurements.append(m)
        return m

    def _maybe_predict(self) -> None:
        total_epochs = self.config.epochs_total
        done = len(self.epoch_energies_kwh)
        if not total_epochs or done < self.config.predict_after_epochs or not self._finishes_run():
            return
        if done > total_epochs or self.worker is None:
            return
        # CarbonTracker's rule: mean energy of the epochs so far x epochs in the run.
        # Ranks other than 0 are assumed to use as much as rank 0 (IT energy, before PUE).
        ranks = self.identity.get("rank_count") or 1
        mean = sum(self.epoch_energies_kwh) / done
        self.worker.submit(
            "prediction",
            {
                "epochs_done": done,
                "epochs_total": total_epochs,
                "predicted_energy_kwh": mean * total_epochs * ranks,
            },
        )

    # ------------------------------------------------------------------ stop

    def _stop(self, status: str | None) -> None:
        with self._lock:
            if not self._started or self._stopped or os.getpid() != self._owner_pid:
                return
            self._stopped = True
            if self._disabled:
                self._restore_hooks()
                return
        status = status or ("failed" if self._failed else "finished")
        self._stop_event.set()
        self._replay_stop.set()
        if self._sampler is not None and self._sampler is not threading.current_thread():
            self._sampler.join(1.0)
        with self._lock:
            try:
                # The last partial interval, however short; a very short one is merged into
                # the previous interval when that is still queued (its average power could
                # otherwise be impossible: a counter tick over a millisecond).
                self._sample(kind="tail")
            except Exception:
                logger.exception("tracker_client: last sample failed")
        assert self.worker is not None
        if self._finishes_run():
            body: dict[str, Any] = {"status": status, "ended_at": _iso(time.time())}
            if self._metrics:
                body["metrics"] = dict(self._metrics)
            self.worker.submit("finish", body)
        self.worker.close(self.config.flush_timeout_s)
        close = getattr(self._sensors, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()
        self._restore_hooks()
        _LIVE.discard(self)
        if self.config.summary:
            self._print_summary(final=True, status=status)

    def _finishes_run(self) -> bool:
        """Rank 0 finishes a shared run; a run of this process alone, this process."""
        return bool(self.identity.get("key_is_local")) or self.identity.get("rank", 0) == 0

    def summary_text(self, final: bool = True, status: str | None = None) -> str:
        """One-line summary: duration, kWh, kg CO2e at the hub's factor, the run page."""
        elapsed = (self._interval_start - self._t0_wall) if final else (time.time() - self._t0_wall)
        h, rem = divmod(int(elapsed), 3600)
        mnt, sec = divmod(rem, 60)
        kwh = self.energy_kwh
        parts = [
            f"Emissions Hub: run key {self.identity.get('run_key', '?')}"
            + (f" {status}" if status else " running"),
            f"{h}h{mnt:02d}m{sec:02d}s",
            f"{kwh:.6f} kWh (CPU {self.totals_kwh['cpu']:.6f}, GPU {self.totals_kwh['gpu']:.6f}, "
            f"RAM {self.totals_kwh['ram']:.6f})",
        ]
        run = self.worker.run if self.worker is not None else None
        if run and run.get("intensity_g_per_kwh") is not None:
            pue = float(run.get("pue") or 1.0)
            intensity = float(run["intensity_g_per_kwh"])
            where = run.get("zone_label") or run.get("zone") or "world average"
            parts.append(
                f"{kwh * pue * intensity / 1000:.6f} kg CO2e at {intensity:g} g/kWh ({where}) "
                f"and PUE {pue:g}"
            )
        if run and run.get("url"):
            parts.append(str(run["url"]))
        elif self.spool is not None and self.spool.path.exists():
            parts.append(
                f"hub not reached: kept in {self.spool.path} "
                "(sent on next start or by `python -m tracker_client flush`)"
            )
        return ", ".join(parts)

    def _print_summary(self, final: bool, status: str | None = None) -> None:
        with contextlib.suppress(Exception):
            print(self.summary_text(final, status), file=sys.stderr, flush=True)


def _is_failure(exc_type: type[BaseException] | None, exc: BaseException | None) -> bool:
    """An exception fails the run, except ``sys.exit()``, ``sys.exit(0)``."""
    if exc_type is None:
        return False
    if issubclass(exc_type, SystemExit):
        code = exc.code if isinstance(exc, SystemExit) else None
        return code not in (0, None)
    return True


def track(func: F | None = None, /, **options: Any) -> Any:
    """Decorator: run the function inside a :class:`Tracker` built from ``options``.

    ``@track`` or ``@track(experiment="bert", epochs_total=3)``.
    """

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with Tracker(**options):
                return f(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    if func is not None:
        return decorate(func)
    return decorate
