from __future__ import annotations

import pytest

from threadx.devices import (
    GpuInfo,
    detect_gpus,
    device_label,
    devices_from_resources,
    gpu_index_for_label,
    node_resources,
    resolve_weights,
)
from threadx.errors import ConfigError


@pytest.mark.parametrize("name,label", [
    ("NVIDIA GeForce RTX 5090", "5090"), ("NVIDIA GeForce RTX 2060", "2060"),
    ("NVIDIA GeForce RTX 4090 Ti", "4090Ti"), ("NVIDIA H100 80GB HBM3", "H100"),
    ("NVIDIA A100-SXM4-40GB", "A100"), ("Tesla T4", "T4"), ("weird gpu!", "weird_gpu_"),
])  # fmt: skip
def test_labels(name, label):
    assert device_label(name) == label


def gpu(i, name):
    return GpuInfo(i, name, 8 << 30, 0, 0.0, (8, 6), "550.1")


def test_resources_round_trip_and_duplicate_labels():
    gpus = [gpu(0, "NVIDIA GeForce RTX 5090"), gpu(1, "NVIDIA GeForce RTX 2060"),
            gpu(2, "NVIDIA GeForce RTX 5090")]  # fmt: skip
    res = node_resources(gpus)
    assert res == {"threadx_gpu_5090": 1.0, "threadx_gpu_2060": 1.0, "threadx_gpu_5090_2": 1.0}
    assert devices_from_resources({**res, "CPU": 8.0, "GPU": 3.0}) == {
        "5090": 1,
        "2060": 1,
        "5090_2": 1,
    }
    assert gpu_index_for_label("2060", gpus) == 1
    assert gpu_index_for_label("5090_2", gpus) == 2
    assert gpu_index_for_label("H100", gpus) is None


def test_weights_rules():
    assert resolve_weights(["5090", "2060"], {}) == {"2060": 0.25, "5090": 0.75}
    assert resolve_weights(["a", "b"], {}) == {"a": 0.5, "b": 0.5}
    assert resolve_weights(["a", "b"], {}, calibrate={"a": 3.0, "b": 1.0}.get) == {
        "a": 0.75,
        "b": 0.25,
    }
    w = resolve_weights(["5090", "2060"], {"5090": 3, "2060": 1})
    assert w == {"2060": 0.25, "5090": 0.75}
    with pytest.raises(ConfigError, match="not in the cluster"):
        resolve_weights(["5090"], {"3090": 1.0})
    with pytest.raises(ConfigError, match="> 0"):
        resolve_weights(["5090"], {"5090": -1.0})
    with pytest.raises(ConfigError, match="no weight"):
        resolve_weights(["5090", "2060"], {"5090": 1.0})


def test_detect_gpus_without_nvml_is_empty_or_real():
    gpus = detect_gpus()
    assert isinstance(gpus, list)
    for g in gpus:
        assert g.memory_total > 0 and g.name


def test_measure_throughput_is_positive():
    from threadx.devices import measure_throughput

    assert measure_throughput("cpu", seconds=0.2, n_bars=2000, n_combos=16) > 0
