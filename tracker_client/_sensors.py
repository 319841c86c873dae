"""Energy sensors for CPU, GPU and RAM; each reports the energy since its previous read.

Methods (sent with every measurement so the hub can show measured vs estimated shares):
``rapl`` and ``nvml_energy`` are hardware energy counters, ``nvml_power`` integrates sampled
GPU power, ``tdp_model`` is TDP x utilisation, ``constant`` a per-GB RAM model and ``none``
an absent component (energy 0).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import logging
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

logger = logging.getLogger("tracker_client")

J_PER_KWH = 3.6e6

# Green Algorithms (Lannelongue, Grealey & Inouye, "Green Algorithms: Quantifying the
# Carbon Footprint of Computation", Advanced Science 2021): 0.3725 W per GB of memory.
RAM_W_PER_GB = 0.3725

# CodeCarbon's fallback for a CPU missing from its table (CodeCarbon 2.x/3.x, 2024), used
# per socket when the model is not in data/cpu_tdp.csv.
UNKNOWN_CPU_TDP_W = 85.0

DEFAULT_RAPL_ROOT = Path("/sys/class/powercap")

TREE_RESCAN_S = 10.0


@dataclasses.dataclass
class Reading:
    """Energy of one component over one interval."""

    energy_kwh: float
    power_w: float | None
    utilization_pct: float | None
    method: str


class Sensor(Protocol):
    method: str
    needs_poll: bool

    def read(self) -> Reading: ...

    def poll(self) -> None: ...


class SensorUnavailable(Exception):
    """The sensor cannot work here; the caller falls back to the next method."""


def _none_reading() -> Reading:
    return Reading(0.0, None, None, "none")


class NoSensor:
    """An absent component: energy 0, method ``none``. A normal case, never an error."""

    method = "none"
    needs_poll = False

    def read(self) -> Reading:
        return _none_reading()

    def poll(self) -> None:
        pass


# --------------------------------------------------------------------------- usage


class Usage:
    """CPU share and memory of a process tree (process mode) or the machine (machine mode)."""

    def __init__(self, mode: str = "process", pid: int | None = None) -> None:
        self.mode = mode
        self.pid = pid if pid is not None else os.getpid()
        self.own = pid is None or pid == os.getpid()
        # A command started by the wrapper is our child: once it exits and is reaped, its
        # whole CPU time (and its reaped descendants') moves into our own children_* times.
        self.child_of_self = not self.own and _parent_pid(self.pid) == os.getpid()
        self._tree_cache: list[Any] = []
        self._total_memory: float | None = None
        self._tree_at = -1e9
        self.ncpu = os.cpu_count() or 1
        try:
            import psutil

            self._psutil: ModuleType | None = psutil
            self._proc: Any = psutil.Process(self.pid)
        except Exception:  # psutil is optional; /proc or os.times() do without it
            self._psutil = None
            self._proc = None
        self._last_cpu = self._cpu_seconds()
        self._last_t = time.monotonic()

    def _tree(self) -> list[Any]:
        """The tracked process and its descendants; rescanned at most every TREE_RESCAN_S.

        Scanning every process of the machine costs milliseconds; between scans a new child
        is missed for a few seconds, a finished one's time moves to its parent's children_*.
        """
        assert self._psutil is not None
        now = time.monotonic()
        if now - self._tree_at >= TREE_RESCAN_S:
            known = {p.pid: p for p in self._tree_cache}
            pids = _descendants(self.pid)
            if pids is None:  # no /proc/<pid>/task/<tid>/children: psutil scans every process
                procs = [self._proc]
                with contextlib.suppress(self._psutil.Error):
                    procs += self._proc.children(recursive=True)
            else:
                procs = [self._proc]
                for pid in pids:
                    if pid in known:
                        procs.append(known[pid])
                    else:
                        with contextlib.suppress(self._psutil.Error):
                            procs.append(self._psutil.Process(pid))
            # Keep known Process objects: they cache what psutil needs between calls.
            # Time is not lost between rescans: a child first seen late brings its whole
            # cumulative CPU time, and a reaped one's moves to its parent's children_*.
            self._tree_cache = [known.get(p.pid, p) for p in procs]
            self._tree_at = now
        return self._tree_cache

    def _tree_cpu_seconds(self) -> float:
        assert self._psutil is not None
        total = 0.0
        for p in self._tree():
            try:
                t = p.cpu_times()
            except self._psutil.Error:
                continue
            # children_* hold the time of descendants already reaped, gone from the tree.
            total += t.user + t.system + t.children_user + t.children_system
        return total

    def _cpu_seconds(self) -> float:
        """Cumulative CPU seconds (process tree) or busy CPU seconds (machine)."""
        if self.mode == "machine":
            if self._psutil is not None:
                t = self._psutil.cpu_times()
                return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))
            with open("/proc/stat") as f:
                fields = [float(x) for x in f.readline().split()[1:]]
            idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
            return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
        if self.child_of_self:
            t = os.times()
            reaped = t.children_user + t.children_system
            try:
                live = self._tree_cpu_seconds() if self._psutil is not None else _stat_cpu(self.pid)
            except (OSError, ValueError, IndexError):
                live = 0.0
            return reaped + live
        if self._psutil is not None:
            return self._tree_cpu_seconds()
        if self.own:
            t = os.times()
            return t.user + t.system + t.children_user + t.children_system
        with open(f"/proc/{self.pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return sum(float(x) for x in parts[11:15]) / os.sysconf("SC_CLK_TCK")

    def cpu_share(self) -> float:
        """Share of all logical CPUs used since the previous call, 0 to 1."""
        now = time.monotonic()
        try:
            cpu = self._cpu_seconds()
        except (OSError, ValueError, IndexError):
            cpu = self._last_cpu  # the tracked process is gone
        # Never let the counter go backwards: a process caught between exit and reaping
        # reads as zero, and resetting the baseline then would count its time twice.
        cpu = max(cpu, self._last_cpu)
        dt = now - self._last_t
        used = cpu - self._last_cpu
        self._last_cpu, self._last_t = cpu, now
        if dt <= 0:
            return 0.0
        return min(1.0, used / (dt * self.ncpu))

    def memory(self) -> tuple[float, float]:
        """(bytes in use, bytes installed) for the tree or the machine."""
        if self._total_memory is None:  # installed memory does not change
            self._total_memory = float(_machine_memory()[1])
        total = self._total_memory
        if self.mode == "machine":
            return float(_machine_memory()[0]), total
        if self._psutil is not None:
            used = 0.0
            for p in self._tree():
                try:
                    used += p.memory_info().rss
                except self._psutil.Error:
                    continue
            return used, total
        try:
            with open(f"/proc/{self.pid}/statm") as f:
                return float(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"), total
        except OSError:
            import resource

            return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024, total


def _parent_pid(pid: int) -> int | None:
    """The parent pid of a process from /proc, or None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _stat_cpu(pid: int) -> float:
    """Cumulative CPU seconds of a process and its reaped children, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return sum(float(x) for x in parts[11:15]) / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int] | None:
    """Descendant pids from /proc/<pid>/task/<tid>/children (Linux), without scanning /proc."""
    out: list[int] = []
    todo = [pid]
    try:
        while todo:
            current = todo.pop()
            for tid in os.listdir(f"/proc/{current}/task"):
                try:
                    with open(f"/proc/{current}/task/{tid}/children") as f:
                        kids = [int(x) for x in f.read().split()]
                except FileNotFoundError:
                    if current == pid and not out:
                        return None  # kernel without CONFIG_PROC_CHILDREN
                    continue
                out.extend(kids)
                todo.extend(kids)
    except OSError:
        return out or None
    return out


def _machine_memory() -> tuple[int, int]:
    try:
        import psutil

        vm = psutil.virtual_memory()
        return int(vm.total - vm.available), int(vm.total)
    except Exception:  # noqa: S110 - psutil is optional; /proc/meminfo below
        pass
    info: dict[str, int] = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                key, value = line.split(":", 1)
                info[key] = int(value.split()[0]) * 1024
    except OSError:
        return 0, 0
    total = info.get("MemTotal", 0)
    return total - info.get("MemAvailable", info.get("MemFree", 0)), total


# --------------------------------------------------------------------------- CPU


@dataclasses.dataclass
class _RaplDomain:
    path: Path
    max_range_uj: int
    last_uj: int


class RaplSensor:
    """CPU package (and DRAM) energy from Linux powercap RAPL counters."""

    method = "rapl"
    needs_poll = False

    def __init__(self, root: Path = DEFAULT_RAPL_ROOT, usage: Usage | None = None) -> None:
        self.usage = usage
        self.domains: list[_RaplDomain] = []  # packages: the CPU
        self.dram_domains: list[_RaplDomain] = []  # DRAM: reported as RAM, not CPU
        self.names: list[str] = []
        seen: set[str] = set()
        try:
            # Only intel-rapl:*, not intel-rapl-mmio:*, which repeats the package counter
            # on some Intel machines (counting it twice).
            candidates = sorted(root.glob("intel-rapl:*"))
        except OSError as exc:
            raise SensorUnavailable(f"cannot list {root}: {exc}") from exc
        for d in candidates:
            energy = d / "energy_uj"
            try:
                name = (d / "name").read_text().strip()
            except OSError:
                continue
            # Package domains contain core/uncore; DRAM is separate. psys would double count.
            if not (name.startswith("package") or name == "dram"):
                continue
            # package-N is unique per socket; each socket may have its own "dram".
            key = name if name != "dram" else f"dram@{d.name.split(':')[1]}"
            if key in seen:
                continue
            try:
                value = int(energy.read_text())
                max_range = int((d / "max_energy_range_uj").read_text())
            except PermissionError as exc:
                raise SensorUnavailable(f"{energy} is not readable (root only here)") from exc
            except (OSError, ValueError):
                continue
            domain = _RaplDomain(energy, max_range, value)
            (self.dram_domains if name == "dram" else self.domains).append(domain)
            self.names.append(name)
            seen.add(key)
        if not self.domains:
            raise SensorUnavailable(f"no RAPL package domain under {root}")
        self._last_t = time.monotonic()

    def dram_sensor(self) -> RaplDramSensor | None:
        """The DRAM counters as the RAM sensor, or None when RAPL has no DRAM domain."""
        return RaplDramSensor(self.dram_domains) if self.dram_domains else None

    def read(self) -> Reading:
        now = time.monotonic()
        total_uj = _read_domains(self.domains)
        dt = now - self._last_t
        self._last_t = now
        energy_j = total_uj / 1e6
        util = self.usage.cpu_share() * 100 if self.usage is not None else None
        return Reading(energy_j / J_PER_KWH, energy_j / dt if dt > 0 else None, util, self.method)

    def poll(self) -> None:
        pass


class RaplDramSensor:
    """RAM energy from the RAPL DRAM domains (machine-wide, like the package counters)."""

    method = "rapl"
    needs_poll = False

    def __init__(self, domains: list[_RaplDomain]) -> None:
        self.domains = domains
        self._last_t = time.monotonic()

    def read(self) -> Reading:
        now = time.monotonic()
        energy_j = _read_domains(self.domains) / 1e6
        dt = now - self._last_t
        self._last_t = now
        used, total = _machine_memory()
        pct = 100.0 * used / total if total else None
        return Reading(energy_j / J_PER_KWH, energy_j / dt if dt > 0 else None, pct, self.method)

    def poll(self) -> None:
        pass


def _read_domains(domains: list[_RaplDomain]) -> int:
    """Microjoules used since the last read, summed over ``domains``; wrap-around handled."""
    total_uj = 0
    for d in domains:
        try:
            value = int(d.path.read_text())
        except (OSError, ValueError):
            continue
        delta = value - d.last_uj
        if delta < 0:  # the counter wrapped at max_energy_range_uj
            delta += d.max_range_uj
        d.last_uj = value
        total_uj += max(0, delta)
    return total_uj


def _normalise_cpu_name(name: str) -> str:
    name = re.sub(r"\((R|TM|tm|r)\)", " ", name)
    name = re.sub(r"@.*$", " ", name)
    name = re.sub(r"\b(CPU|Processor|\d+-Core)\b", " ", name)
    return " ".join(name.split())


def load_tdp_table() -> list[tuple[str, float, str]]:
    path = Path(__file__).with_name("data") / "cpu_tdp.csv"
    rows: list[tuple[str, float, str]] = []
    with path.open(newline="") as f:
        lines = (line for line in f if not line.startswith("#"))
        for row in csv.DictReader(lines):
            rows.append((row["pattern"], float(row["tdp_w"]), row["source"]))
    return rows


def lookup_tdp(cpu_name: str) -> tuple[float, str] | None:
    """TDP per socket in W and its source for a /proc/cpuinfo model name, or None."""
    normalised = _normalise_cpu_name(cpu_name)
    best: tuple[str, float, str] | None = None
    for pattern, tdp, source in load_tdp_table():
        rx = r"(?<![\w-])" + re.escape(pattern) + r"(?![\w+-])"
        found = re.search(rx, normalised, flags=re.IGNORECASE)
        if found and (best is None or len(pattern) > len(best[0])):
            best = (pattern, tdp, source)
    return (best[1], best[2]) if best else None


def cpu_info() -> tuple[str, int]:
    """(model name, socket count) from /proc/cpuinfo, or platform's best guess."""
    model, sockets = "", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and not model:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("physical id"):
                    sockets.add(line.split(":", 1)[1].strip())
    except OSError:
        import platform

        model = platform.processor()
    return model or "unknown", max(1, len(sockets))


class TdpCpuSensor:
    """CPU power modelled as TDP x share of the CPUs used (process tree or machine)."""

    method = "tdp_model"
    needs_poll = False

    def __init__(self, tdp_w: float, usage: Usage) -> None:
        self.tdp_w = tdp_w
        self.usage = usage
        self._last_t = time.monotonic()

    def read(self) -> Reading:
        now = time.monotonic()
        dt = now - self._last_t
        self._last_t = now
        share = self.usage.cpu_share()
        power = self.tdp_w * share
        return Reading(power * dt / J_PER_KWH, power, share * 100, self.method)

    def poll(self) -> None:
        pass


# --------------------------------------------------------------------------- RAM


class RamSensor:
    """RAM power as RAM_W_PER_GB x GB in use (process tree or machine)."""

    method = "constant"
    needs_poll = False

    def __init__(self, usage: Usage, w_per_gb: float = RAM_W_PER_GB) -> None:
        self.usage = usage
        self.w_per_gb = w_per_gb
        self._last_t = time.monotonic()

    def read(self) -> Reading:
        now = time.monotonic()
        dt = now - self._last_t
        self._last_t = now
        used, total = self.usage.memory()
        power = self.w_per_gb * used / 1e9
        pct = 100.0 * used / total if total else None
        return Reading(power * dt / J_PER_KWH, power, pct, self.method)

    def poll(self) -> None:
        pass


# --------------------------------------------------------------------------- GPU


def _local_rank_layout(env: Mapping[str, str]) -> tuple[int | None, int | None]:
    rank = env.get("LOCAL_RANK", env.get("SLURM_LOCALID"))
    size = env.get("LOCAL_WORLD_SIZE", env.get("SLURM_NTASKS_PER_NODE"))
    try:
        r = int(rank) if rank is not None else None
    except ValueError:
        r = None
    try:
        s = int(re.match(r"\d+", size).group()) if size else None  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        s = None
    return r, s


def assign_devices(visible: list[str], env: Mapping[str, str]) -> list[str]:
    """The devices this rank reports: its own share when every local rank sees them all.

    With LOCAL_RANK r among w local ranks and n visible devices: if n == 1 the rank owns it;
    if n is a multiple of w each rank owns the contiguous block of n/w devices r*n/w...;
    if w is unknown each rank owns device r. Every GPU is then counted once per node.
    """
    local_rank, local_size = _local_rank_layout(env)
    if local_rank is None or len(visible) <= 1:
        return visible
    n = len(visible)
    if local_size and local_size > 1 and n >= local_size and n % local_size == 0:
        k = n // local_size
        return visible[local_rank * k : (local_rank + 1) * k]
    if local_size == 1:
        return visible
    return [visible[local_rank]] if local_rank < n else []


class NvmlGpuSensor:
    """GPU energy from NVML: the total-energy counter, else integrated power samples."""

    needs_poll = False

    def __init__(
        self,
        nvml: Any,
        env: Mapping[str, str] | None = None,
        gpu_ids: list[str] | None = None,
    ) -> None:
        env = os.environ if env is None else env
        self.nvml = nvml
        try:
            nvml.nvmlInit()
            count = int(nvml.nvmlDeviceGetCount())
        except Exception as exc:
            raise SensorUnavailable(f"NVML not usable: {exc}") from exc
        if gpu_ids is not None:
            visible = list(gpu_ids)
        elif "CUDA_VISIBLE_DEVICES" in env:
            visible = [x.strip() for x in env["CUDA_VISIBLE_DEVICES"].split(",") if x.strip()]
            # CUDA stops at the first invalid entry; "-1" hides every device.
            cut = next((i for i, x in enumerate(visible) if x.startswith("-")), len(visible))
            visible = visible[:cut]
        else:
            visible = [str(i) for i in range(count)]
        mine = assign_devices(visible, env)
        self.handles: list[Any] = []
        self.names: list[str] = []
        for dev in mine:
            try:
                if dev.startswith("MIG-"):
                    logger.info("tracker_client: MIG device %s has no own energy counter", dev)
                    continue
                if dev.startswith("GPU-"):
                    h = nvml.nvmlDeviceGetHandleByUUID(dev)
                else:
                    h = nvml.nvmlDeviceGetHandleByIndex(int(dev))
            except Exception as exc:
                logger.warning("tracker_client: cannot open GPU %s: %s", dev, exc)
                continue
            self.handles.append(h)
            name = nvml.nvmlDeviceGetName(h)
            self.names.append(name.decode() if isinstance(name, bytes) else str(name))
        if not self.handles:
            raise SensorUnavailable("no GPU visible to this job")
        self._last_mj: list[int | None] = []
        for h in self.handles:
            try:
                self._last_mj.append(int(nvml.nvmlDeviceGetTotalEnergyConsumption(h)))
            except Exception:
                self._last_mj.append(None)  # pre-Volta or unsupported: integrate power
        self.method = "nvml_energy" if all(v is not None for v in self._last_mj) else "nvml_power"
        self.needs_poll = self.method == "nvml_power"
        now = time.monotonic()
        self._last_poll_t = now
        self._last_read_t = now
        self._last_power_w = self._power_w()
        self._integrated_j = 0.0

    def _power_w(self) -> list[float]:
        out = []
        for h, counter in zip(self.handles, self._last_mj, strict=False):
            if counter is not None:
                out.append(0.0)
                continue
            try:
                out.append(float(self.nvml.nvmlDeviceGetPowerUsage(h)) / 1000.0)
            except Exception:
                out.append(0.0)
        return out

    def poll(self) -> None:
        """Trapezoidal integration of power for devices without an energy counter."""
        if not self.needs_poll:
            return
        now = time.monotonic()
        power = self._power_w()
        dt = now - self._last_poll_t
        self._integrated_j += sum(
            (a + b) / 2 * dt for a, b in zip(self._last_power_w, power, strict=False)
        )
        self._last_poll_t, self._last_power_w = now, power

    def read(self) -> Reading:
        self.poll()
        now = time.monotonic()
        energy_j, self._integrated_j = self._integrated_j, 0.0
        for i, h in enumerate(self.handles):
            last = self._last_mj[i]
            if last is None:
                continue
            try:
                value = int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(h))
            except Exception:  # noqa: S112 - a transient NVML error: counted next time
                continue
            energy_j += max(0, value - last) / 1000.0  # the counter resets with the driver
            self._last_mj[i] = value
        utils = []
        for h in self.handles:
            with contextlib.suppress(Exception):
                utils.append(float(self.nvml.nvmlDeviceGetUtilizationRates(h).gpu))
        dt = now - self._last_read_t
        self._last_read_t = now
        return Reading(
            energy_j / J_PER_KWH,
            energy_j / dt if dt > 0 else None,
            sum(utils) / len(utils) if utils else None,
            self.method,
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.nvml.nvmlShutdown()


# --------------------------------------------------------------------------- set


class SensorSet:
    """The CPU, GPU and RAM sensors of one tracker."""

    def __init__(self, cpu: Sensor, gpu: Sensor, ram: Sensor, hardware: dict[str, Any]) -> None:
        self.cpu, self.gpu, self.ram = cpu, gpu, ram
        self.hardware = hardware
        self.needs_poll = cpu.needs_poll or gpu.needs_poll or ram.needs_poll

    def read(self) -> dict[str, Reading]:
        out = {}
        for key, sensor in (("cpu", self.cpu), ("gpu", self.gpu), ("ram", self.ram)):
            try:
                out[key] = sensor.read()
            except Exception:
                logger.exception("tracker_client: %s sensor failed; reporting 0", key)
                out[key] = _none_reading()
        return out

    def poll(self) -> None:
        for sensor in (self.cpu, self.gpu, self.ram):
            if sensor.needs_poll:
                try:
                    sensor.poll()
                except Exception:
                    logger.debug("tracker_client: poll failed", exc_info=True)

    def close(self) -> None:
        close = getattr(self.gpu, "close", None)
        if close is not None:
            close()


def _import_nvml() -> Any:
    import pynvml  # nvidia-ml-py; imported only when a tracker starts

    return pynvml


def build_sensors(
    mode: str = "process",
    pid: int | None = None,
    rapl_root: Path = DEFAULT_RAPL_ROOT,
    nvml: Any = None,
    env: Mapping[str, str] | None = None,
    gpu_ids: list[str] | None = None,
) -> SensorSet:
    """Pick the best available method for each component and log the choice once."""
    env = os.environ if env is None else env
    usage = Usage(mode, pid)
    local_rank, _ = _local_rank_layout(env)
    other_local_rank = local_rank is not None and local_rank != 0
    model, sockets = cpu_info()
    hardware: dict[str, Any] = {
        "cpu_model": model,
        "cpu_count": os.cpu_count(),
        "ram_gb": round(_machine_memory()[1] / 1e9, 1),
    }

    cpu: Sensor
    rapl: RaplSensor | None = None
    try:
        rapl = RaplSensor(rapl_root, usage)
        if other_local_rank:
            # RAPL measures the whole package: local rank 0 reports it for the node.
            cpu = NoSensor()
            logger.info("tracker_client: CPU: RAPL counted by local rank 0; this rank sends none")
        else:
            cpu = rapl
            logger.info("tracker_client: CPU: measured by RAPL (%s)", ", ".join(rapl.names))
    except SensorUnavailable as why:
        if mode == "machine" and other_local_rank:
            cpu = NoSensor()
        else:
            found = lookup_tdp(model)
            tdp, source = found if found else (UNKNOWN_CPU_TDP_W, "default, model not in table")
            cpu = TdpCpuSensor(tdp * sockets, usage)
            logger.info(
                "tracker_client: CPU: RAPL unavailable (%s); modelled as TDP %.0f W x %d "
                "socket(s) (%s, %s) x %s CPU share",
                why,
                tdp,
                sockets,
                model,
                source,
                mode,
            )

    gpu: Sensor
    try:
        module = nvml if nvml is not None else _import_nvml()
        nv = NvmlGpuSensor(module, env, gpu_ids)
        gpu = nv
        hardware["gpu_model"] = nv.names[0]
        hardware["gpu_count"] = len(nv.handles)
        logger.info("tracker_client: GPU: %s on %s", nv.method, ", ".join(nv.names))
    except (ImportError, SensorUnavailable) as why:
        gpu = NoSensor()
        hardware["gpu_count"] = 0
        logger.info("tracker_client: GPU: none (%s)", why)

    ram: Sensor = RamSensor(usage)
    dram = rapl.dram_sensor() if rapl is not None else None
    if dram is not None:
        # RAPL measures DRAM (machine-wide): that is the RAM figure, not the model on top.
        ram = NoSensor() if other_local_rank else dram
        logger.info("tracker_client: RAM: measured by RAPL (dram)")
    elif mode == "machine" and other_local_rank:
        ram = NoSensor()
    return SensorSet(cpu, gpu, ram, hardware)
