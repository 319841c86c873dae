from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tracker_client._sensors import (
    NvmlGpuSensor,
    RamSensor,
    RaplSensor,
    SensorUnavailable,
    TdpCpuSensor,
    Usage,
    assign_devices,
    build_sensors,
    lookup_tdp,
)


def rapl_domain(
    root: Path, name: str, dirname: str, energy: int, max_range: int = 1_000_000
) -> Path:
    d = root / dirname
    d.mkdir(parents=True)
    (d / "name").write_text(name + "\n")
    (d / "energy_uj").write_text(f"{energy}\n")
    (d / "max_energy_range_uj").write_text(f"{max_range}\n")
    return d


def test_rapl_reads_the_package_as_cpu_and_dram_as_ram_and_handles_a_wrap(tmp_path):
    pkg = rapl_domain(tmp_path, "package-0", "intel-rapl:0", 900_000)
    dram = rapl_domain(tmp_path, "dram", "intel-rapl:0:1", 100)
    rapl_domain(tmp_path, "core", "intel-rapl:0:0", 5)  # inside the package: not added
    sensor = RaplSensor(tmp_path)
    assert sorted(sensor.names) == ["dram", "package-0"]
    ram = sensor.dram_sensor()
    assert ram is not None
    (pkg / "energy_uj").write_text("50000\n")  # wrapped: 100_000 to the top, then 50_000
    (dram / "energy_uj").write_text("3600100\n")  # 3.6 J
    reading = sensor.read()
    assert reading.method == "rapl"
    assert reading.energy_kwh == pytest.approx(0.15 / 3.6e6)
    ram_reading = ram.read()
    assert ram_reading.method == "rapl"
    assert ram_reading.energy_kwh == pytest.approx(3.6 / 3.6e6)


def test_the_rapl_mmio_copy_of_the_package_is_not_counted_twice(tmp_path):
    pkg = rapl_domain(tmp_path, "package-0", "intel-rapl:0", 0)
    mmio = rapl_domain(tmp_path, "package-0", "intel-rapl-mmio:0", 0)
    sensor = RaplSensor(tmp_path)
    assert sensor.names == ["package-0"]
    (pkg / "energy_uj").write_text("3600000\n")
    (mmio / "energy_uj").write_text("3600000\n")
    assert sensor.read().energy_kwh == pytest.approx(3.6 / 3.6e6)


def test_each_socket_keeps_its_own_rapl_dram_domain(tmp_path):
    rapl_domain(tmp_path, "package-0", "intel-rapl:0", 0)
    rapl_domain(tmp_path, "dram", "intel-rapl:0:2", 0)
    rapl_domain(tmp_path, "package-1", "intel-rapl:1", 0)
    rapl_domain(tmp_path, "dram", "intel-rapl:1:2", 0)
    sensor = RaplSensor(tmp_path)
    assert len(sensor.domains) == 2 and len(sensor.dram_domains) == 2


def test_with_a_rapl_dram_domain_ram_is_measured_not_modelled_on_top(tmp_path):
    rapl_domain(tmp_path, "package-0", "intel-rapl:0", 0)
    rapl_domain(tmp_path, "dram", "intel-rapl:0:2", 0)
    sensors = build_sensors(rapl_root=tmp_path, nvml=FakeNvml(count=1))
    assert sensors.ram.method == "rapl" and not isinstance(sensors.ram, RamSensor)
    assert sensors.read()["ram"].method == "rapl"
    env = {"LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    other = build_sensors(rapl_root=tmp_path, nvml=FakeNvml(count=2), env=env)
    assert other.ram.method == "none"  # local rank 0 reports the node's DRAM
    (tmp_path / "intel-rapl:0:2" / "name").write_text("uncore\n")
    assert isinstance(build_sensors(rapl_root=tmp_path, nvml=FakeNvml(count=1)).ram, RamSensor)


def test_rapl_missing_or_unreadable_is_unavailable(tmp_path):
    with pytest.raises(SensorUnavailable):
        RaplSensor(tmp_path / "nothing")
    if os.geteuid() != 0:  # root reads anything; the permission case needs a normal user
        d = rapl_domain(tmp_path, "package-0", "intel-rapl:0", 1)
        (d / "energy_uj").chmod(0)
        with pytest.raises(SensorUnavailable):
            RaplSensor(tmp_path)


def test_without_rapl_the_cpu_is_modelled_from_the_tdp_table(tmp_path, caplog, monkeypatch):
    import logging

    caplog.set_level(logging.INFO, logger="tracker_client")
    monkeypatch.setattr(
        "tracker_client._sensors.cpu_info", lambda: ("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", 2)
    )
    sensors = build_sensors(rapl_root=tmp_path, nvml=SimpleNamespace())
    assert isinstance(sensors.cpu, TdpCpuSensor)
    assert sensors.cpu.tdp_w == 300.0
    assert "RAPL unavailable" in caplog.text and "Intel ARK" in caplog.text
    assert sensors.gpu.method == "none"
    assert sensors.read()["gpu"].energy_kwh == 0


def test_the_tdp_table_matches_common_cpus_by_whole_model_number():
    assert lookup_tdp("AMD EPYC 7763 64-Core Processor") == (280.0, "AMD specifications 2026")
    assert lookup_tdp("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz") == (205.0, "Intel ARK 2026")
    assert lookup_tdp("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz") == (150.0, "Intel ARK 2026")
    assert lookup_tdp("Intel(R) Xeon(R) Platinum 8480+") == (350.0, "Intel ARK 2026")
    assert lookup_tdp("Intel(R) Xeon(R) Processor") is None


def test_the_tdp_model_scales_with_the_share_of_cpus_used():
    usage = SimpleNamespace(cpu_share=lambda: 0.25)
    sensor = TdpCpuSensor(200.0, usage)  # type: ignore[arg-type]
    time.sleep(0.05)
    reading = sensor.read()
    assert reading.power_w == 50.0 and reading.utilization_pct == 25.0
    assert reading.energy_kwh == pytest.approx(50.0 * 0.05 / 3.6e6, rel=0.5)


def test_process_usage_sees_cpu_burnt_by_this_process():
    usage = Usage("process")
    t0 = time.process_time()
    while time.process_time() - t0 < 0.2:
        pass
    assert usage.cpu_share() > 0
    used, total = usage.memory()
    assert 0 < used < total


def test_ram_is_modelled_at_0_3725_w_per_gb():
    usage = SimpleNamespace(memory=lambda: (8e9, 32e9))
    sensor = RamSensor(usage)  # type: ignore[arg-type]
    reading = sensor.read()
    assert reading.power_w == pytest.approx(2.98)
    assert reading.utilization_pct == 25.0 and reading.method == "constant"


class FakeNvml:
    """pynvml's calls used by the client, for devices with or without an energy counter."""

    def __init__(self, count=4, counter=True):
        self.count = count
        self.counter = counter
        self.energy_mj = dict.fromkeys(range(count), 1_000)
        self.power_mw = dict.fromkeys(range(count), 250_000)

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        pass

    def nvmlDeviceGetCount(self):
        return self.count

    def nvmlDeviceGetHandleByIndex(self, i):
        if i >= self.count:
            raise ValueError("no such device")
        return i

    def nvmlDeviceGetHandleByUUID(self, uuid):
        return int(uuid.rsplit("-", 1)[1])

    def nvmlDeviceGetName(self, h):
        return b"NVIDIA A100-SXM4-40GB"

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        if not self.counter:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        return self.energy_mj[h]

    def nvmlDeviceGetPowerUsage(self, h):
        return self.power_mw[h]

    def nvmlDeviceGetUtilizationRates(self, h):
        return SimpleNamespace(gpu=90)


def test_nvml_energy_counts_only_the_visible_devices():
    nvml = FakeNvml()
    sensor = NvmlGpuSensor(nvml, env={"CUDA_VISIBLE_DEVICES": "1,3"})
    assert sensor.method == "nvml_energy" and sensor.handles == [1, 3]
    for i in range(4):
        nvml.energy_mj[i] += 3_600_000  # 3600 J each
    reading = sensor.read()
    assert reading.energy_kwh == pytest.approx(2 * 3600 / 3.6e6)
    assert reading.utilization_pct == 90


def test_visible_devices_may_be_given_as_uuids_and_minus_one_hides_all():
    sensor = NvmlGpuSensor(FakeNvml(), env={"CUDA_VISIBLE_DEVICES": "GPU-aaaa-2"})
    assert sensor.handles == [2]
    with pytest.raises(SensorUnavailable):
        NvmlGpuSensor(FakeNvml(), env={"CUDA_VISIBLE_DEVICES": "-1"})


def test_without_the_energy_counter_power_is_integrated():
    nvml = FakeNvml(count=1, counter=False)
    sensor = NvmlGpuSensor(nvml, env={})
    assert sensor.method == "nvml_power" and sensor.needs_poll
    time.sleep(0.1)
    sensor.poll()
    time.sleep(0.1)
    reading = sensor.read()
    assert reading.power_w == pytest.approx(250.0, rel=0.05)
    assert reading.energy_kwh == pytest.approx(250 * 0.2 / 3.6e6, rel=0.2)


def test_no_nvml_is_a_normal_case_reported_as_none(monkeypatch, tmp_path):
    def missing():
        raise ImportError("No module named 'pynvml'")

    monkeypatch.setattr("tracker_client._sensors._import_nvml", missing)
    sensors = build_sensors(rapl_root=tmp_path)
    assert sensors.gpu.method == "none" and sensors.hardware["gpu_count"] == 0

    class Broken(FakeNvml):
        def nvmlInit(self):
            raise RuntimeError("NVML_ERROR_DRIVER_NOT_LOADED")

    assert build_sensors(rapl_root=tmp_path, nvml=Broken()).gpu.method == "none"


def test_each_local_rank_reports_only_its_own_gpus():
    visible = ["0", "1", "2", "3"]
    assert assign_devices(visible, {}) == visible
    assert assign_devices(visible, {"LOCAL_RANK": "2", "LOCAL_WORLD_SIZE": "4"}) == ["2"]
    assert assign_devices(visible, {"LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}) == ["2", "3"]
    assert assign_devices(visible, {"LOCAL_RANK": "3"}) == ["3"]
    assert assign_devices(["5"], {"LOCAL_RANK": "3", "LOCAL_WORLD_SIZE": "4"}) == ["5"]
    assert assign_devices(visible, {"SLURM_LOCALID": "1", "SLURM_NTASKS_PER_NODE": "4(x2)"}) == [
        "1"
    ]
    all_ranks = [
        d
        for r in range(4)
        for d in assign_devices(visible, {"LOCAL_RANK": str(r), "LOCAL_WORLD_SIZE": "4"})
    ]
    assert sorted(all_ranks) == visible


def test_machine_wide_rapl_is_reported_by_local_rank_zero_only(tmp_path):
    rapl_domain(tmp_path, "package-0", "intel-rapl:0", 1)
    env = {"LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    assert build_sensors(rapl_root=tmp_path, nvml=FakeNvml(count=2), env=env).cpu.method == "none"
    env0 = {"LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "2"}
    sensors = build_sensors(rapl_root=tmp_path, nvml=FakeNvml(count=2), env=env0)
    assert sensors.cpu.method == "rapl"
    assert isinstance(sensors.gpu, NvmlGpuSensor) and sensors.gpu.handles == [0]


def test_usage_works_from_proc_without_psutil():
    import subprocess
    import sys

    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nt=time.process_time()\nwhile time.process_time()-t<0.5: pass",
        ]
    )
    try:
        usage = Usage("process", pid=child.pid)
        usage._psutil = None  # as when psutil is not installed
        time.sleep(0.3)
        assert usage.cpu_share() > 0
        used, total = usage.memory()
        assert 0 < used < total
        machine = Usage("machine")
        machine._psutil = None
        time.sleep(0.05)
        assert 0 <= machine.cpu_share() <= 1
    finally:
        child.wait()


def test_the_process_tree_includes_children_found_through_proc():
    import subprocess

    from tracker_client._sensors import _descendants

    child = subprocess.Popen(["sleep", "2"])
    try:
        kids = _descendants(os.getpid())
        assert kids is None or child.pid in kids
        usage = Usage("process")
        assert child.pid in {p.pid for p in usage._tree()}
    finally:
        child.kill()
        child.wait()
