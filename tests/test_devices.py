"""Device discovery, labels, resources and weights (pure: no Ray, no GPU needed)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import pytest

from threadx.core.errors import ConfigError, ThreadXError
from threadx.devices import (
    RESOURCE_PREFIX,
    GpuInfo,
    calibrate_cpu_throughput,
    detect_gpus,
    device_label,
    devices_from_resources,
    gpu_index_for_label,
    gpu_utilization,
    measure_throughput,
    node_resources,
    resolve_weights,
)


@pytest.mark.parametrize(
    "name,label",
    [
        ("NVIDIA GeForce RTX 5090", "5090"),
        ("NVIDIA GeForce RTX 2060", "2060"),
        ("NVIDIA GeForce RTX 4090 Ti", "4090Ti"),
        ("NVIDIA GeForce RTX 4080 SUPER", "4080SUPER"),
        ("NVIDIA GeForce GTX 1080 Ti", "1080Ti"),
        ("NVIDIA RTX A6000", "A6000"),
        ("NVIDIA GeForce RTX 3080 Laptop GPU", "3080"),
        ("NVIDIA H100 80GB HBM3", "H100"),
        ("NVIDIA A100-SXM4-40GB", "A100"),
        ("Tesla T4", "T4"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA GH200 480GB", "GH200"),
        ("NVIDIA TITAN V", "TITAN_V"),
        ("weird gpu!", "weird_gpu"),
        ("", "gpu"),
    ],
)
def test_labels(name, label):
    assert device_label(name) == label
    assert (RESOURCE_PREFIX + label).isidentifier()


def gpu(i, name):
    return GpuInfo(i, name, 8 << 30, 0, 0.0, (8, 6), "550.1")


def test_resources_round_trip_and_duplicate_labels():
    gpus = [
        gpu(0, "NVIDIA GeForce RTX 5090"),
        gpu(1, "NVIDIA GeForce RTX 2060"),
        gpu(2, "NVIDIA GeForce RTX 5090"),
    ]
    res = node_resources(gpus)
    assert res == {"threadx_gpu_5090": 1.0, "threadx_gpu_2060": 1.0, "threadx_gpu_5090_2": 1.0}
    both = {**res, "CPU": 8.0, "GPU": 3.0, "memory": 1e9, "node:10.0.0.1": 1.0}
    assert devices_from_resources(both) == {"5090": 1, "2060": 1, "5090_2": 1}
    assert gpu_index_for_label("2060", gpus) == 1
    assert gpu_index_for_label("5090", gpus) == 0
    assert gpu_index_for_label("5090_2", gpus) == 2
    assert gpu_index_for_label("H100", gpus) is None
    # two nodes with a 5090 each: the cluster totals sum per label
    assert devices_from_resources({"threadx_gpu_5090": 2.0, "threadx_gpu_2060": 0.0}) == {"5090": 2}
    assert node_resources([]) == {} and devices_from_resources({"CPU": 2.0}) == {}


def test_weights_defaults_calibration_and_equal():
    assert resolve_weights(["5090", "2060"], {}) == {"2060": 0.25, "5090": 0.75}
    assert resolve_weights(["a", "b"], {}) == {"a": 0.5, "b": 0.5}
    assert resolve_weights(["a"], {}, calibrate=lambda lab: 1 / 0) == {"a": 1.0}  # not called
    assert resolve_weights(["a", "b"], {}, calibrate={"a": 3.0, "b": 1.0}.get) == {
        "a": 0.75,
        "b": 0.25,
    }
    # the 5090/2060 default wins over calibration
    assert resolve_weights(["2060", "5090"], {}, calibrate=lambda lab: 1.0)["5090"] == 0.75
    with pytest.raises(ThreadXError, match="calibration of device 'b'"):
        resolve_weights(["a", "b"], {}, calibrate={"a": 1.0, "b": 0.0}.get)


def test_weights_configured():
    assert resolve_weights(["5090", "2060"], {"5090": 3, "2060": 1}) == {"2060": 0.25, "5090": 0.75}
    # a configured name matches the labels containing it, case-insensitively
    w = resolve_weights(["5090", "5090_2", "H100"], {"5090": 1.0, "h100": 2.0})
    assert w == {"5090": 0.25, "5090_2": 0.25, "H100": 0.5}
    assert math.isclose(sum(w.values()), 1.0)
    # an exact match wins over a containing one
    assert resolve_weights(["5090", "5090_2"], {"5090": 1.0, "5090_2": 3.0})["5090_2"] == 0.75


@pytest.mark.parametrize(
    "labels,configured,message",
    [
        (["5090"], {"3090": 1.0}, "device '3090' is not in the cluster"),
        (["5090"], {"5090": -1.0}, "weight of '5090' must be a number > 0"),
        (["5090"], {"5090": 0}, "must be a number > 0"),
        (["5090"], {"5090": float("nan")}, "must be a number > 0"),
        (["5090", "2060"], {"5090": 1.0}, "no weight for device\\(s\\) 2060"),
        (["5090_1"], {"5090": 1.0, "90": 1.0}, "matches several entries"),
        ([], {}, "no devices"),
    ],
)
def test_weights_errors(labels, configured, message):
    with pytest.raises(ConfigError, match=message):
        resolve_weights(labels, configured)


def test_calibration_measures_the_cpu_kernel():
    assert calibrate_cpu_throughput(0.05) > 0
    assert measure_throughput("cpu", seconds=0.05, n_bars=2000, n_combos=16) > 0


def test_detect_gpus_is_empty_without_nvml_or_describes_each_device():
    gpus = detect_gpus()
    assert isinstance(gpus, list)
    for i, g in enumerate(gpus):
        assert g.index == i and g.name and g.memory_total > 0 and g.label
    usage = gpu_utilization()
    assert [u.index for u in usage] == [g.index for g in gpus]
    for u in usage:
        assert u.utilization is None or 0 <= u.utilization <= 100


def test_module_prints_resources_json():
    out = subprocess.run(
        [sys.executable, "-m", "threadx.devices", "--resources"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(out.stdout) == node_resources(detect_gpus())


FAKE_NVML = r"""
#include <stdio.h>
typedef struct { unsigned long long total, free, used; } mem_t;
typedef struct { unsigned int gpu, memory; } util_t;
static const char *names[] = {"NVIDIA GeForce RTX 5090", "", "NVIDIA GeForce RTX 2060",
                              "NVIDIA GeForce RTX 5090"};
static long idx(void *h) { return (long)h - 1; }
int nvmlInit_v2(void) { return 0; }
int nvmlInitWithFlags(unsigned int flags) { return 0; }
const char *nvmlErrorString(int r) { return r == 3 ? "Not Supported" : "GPU is lost"; }
int nvmlShutdown(void) { return 0; }
int nvmlDeviceGetCount_v2(unsigned int *n) { *n = 4; return 0; }
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **h) {
    if (i == 1) return 15;  /* NVML_ERROR_GPU_IS_LOST */
    *h = (void *)(long)(i + 1); return 0; }
int nvmlDeviceGetName(void *h, char *buf, unsigned int len) {
    snprintf(buf, len, "%s", names[idx(h)]); return 0; }
int nvmlDeviceGetMemoryInfo(void *h, mem_t *m) {
    m->total = (idx(h) == 2 ? 6ULL : 32ULL) << 30; m->used = 1ULL << 20 << idx(h);
    m->free = m->total - m->used; return 0; }
int nvmlDeviceGetUtilizationRates(void *h, util_t *u) {
    if (idx(h) == 2) return 3;  /* NVML_ERROR_NOT_SUPPORTED */
    u->gpu = 40 + (unsigned)idx(h); u->memory = 5; return 0; }
int nvmlDeviceGetCudaComputeCapability(void *h, int *major, int *minor) {
    *major = idx(h) == 2 ? 7 : 12; *minor = idx(h) == 2 ? 5 : 0; return 0; }
int nvmlSystemGetDriverVersion(char *buf, unsigned int len) {
    snprintf(buf, len, "575.51.02"); return 0; }
"""


@pytest.fixture(scope="module")
def fake_nvml(tmp_path_factory) -> dict:
    """Environment whose ``libnvidia-ml.so.1`` is a fake: a 5090, a lost GPU, a 2060 without
    utilisation counters and a second 5090 -- checks the NVML calls without a GPU."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the fake NVML")
    d = tmp_path_factory.mktemp("nvml")
    (d / "fake.c").write_text(FAKE_NVML)
    subprocess.run(
        [cc, "-shared", "-fPIC", "-o", str(d / "libnvidia-ml.so.1"), str(d / "fake.c")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return {**os.environ, "LD_LIBRARY_PATH": str(d)}


def _run(env: dict, *args: str) -> str:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=60, check=True
    ).stdout


def test_nvml_discovery_per_device_index(fake_nvml):
    gpus = json.loads(_run(fake_nvml, "-m", "threadx.devices"))
    assert [(g["index"], g["label"]) for g in gpus] == [(0, "5090"), (2, "2060"), (3, "5090")]
    first, second = gpus[0], gpus[1]
    assert first["name"] == "NVIDIA GeForce RTX 5090" and first["driver"] == "575.51.02"
    assert first["memory_total"] == 32 << 30 and first["memory_used"] == 1 << 20  # 64-bit fields
    assert first["utilization"] == 40.0 and first["compute_capability"] == [12, 0]
    assert second["utilization"] is None and second["compute_capability"] == [7, 5]
    res = json.loads(_run(fake_nvml, "-m", "threadx.devices", "--resources"))
    assert res == {"threadx_gpu_5090": 1.0, "threadx_gpu_2060": 1.0, "threadx_gpu_5090_3": 1.0}
    code = (
        "from threadx.devices import gpu_utilization, gpu_index_for_label as f;"
        "print([(u.index, u.utilization, u.memory_total >> 30) for u in gpu_utilization()],"
        " f('2060'), f('5090_3'))"
    )
    assert _run(fake_nvml, "-c", code).strip() == (
        "[(0, 40.0, 32), (2, None, 6), (3, 43.0, 32)] 2 3"
    )
