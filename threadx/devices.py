"""GPU devices: discovery per device index (NVML), labels, Ray resources and work weights.

Ray's own accelerator label reads device 0 only, so ThreadX names every GPU itself: each GPU of a
node is advertised as a custom resource ``threadx_gpu_<label>`` (``<label>`` from the marketing
name: "NVIDIA GeForce RTX 5090" -> "5090"), which pins a worker to that device. CPU-only tests
fake GPUs by starting Ray with such resources.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Callable
from dataclasses import dataclass

from threadx.errors import ConfigError

RESOURCE_PREFIX = "threadx_gpu_"
DEFAULT_PAIR = {"5090": 0.75, "2060": 0.25}


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    memory_total: int
    memory_used: int
    utilization: float | None
    compute_capability: tuple[int, int] | None
    driver: str

    @property
    def label(self) -> str:
        return device_label(self.name)


def device_label(name: str) -> str:
    """Short label of a GPU's marketing name: RTX/GTX numbers, else the model (H100, A100...)."""
    m = re.search(r"(?:RTX|GTX)\s*(?:A)?(\d{3,4}\s*(?:Ti|SUPER)?)", name, flags=re.I)
    if m:
        return re.sub(r"\s+", "", m.group(1))
    m = re.search(r"\b([A-Z]{1,2}\d{1,4}[A-Za-z]?)\b", name)
    if m:
        return m.group(1)
    return re.sub(r"[^A-Za-z0-9_]", "_", name.strip()) or "gpu"


def _nvml() -> ctypes.CDLL | None:
    for lib in ("libnvidia-ml.so.1", "libnvidia-ml.so"):
        try:
            nv = ctypes.CDLL(lib)
        except OSError:
            continue
        if nv.nvmlInit_v2() == 0:
            return nv
    return None


class _Memory(ctypes.Structure):
    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong),
                ("used", ctypes.c_ulonglong)]  # fmt: skip


class _Util(ctypes.Structure):
    _fields_ = [("gpu", ctypes.c_uint), ("memory", ctypes.c_uint)]


def _gpu(nv: ctypes.CDLL, i: int, driver: str) -> GpuInfo:
    handle = ctypes.c_void_p()
    nv.nvmlDeviceGetHandleByIndex_v2(i, ctypes.byref(handle))
    name = ctypes.create_string_buffer(96)
    nv.nvmlDeviceGetName(handle, name, 96)
    mem = _Memory()
    nv.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(mem))
    util = _Util()
    u = util.gpu if nv.nvmlDeviceGetUtilizationRates(handle, ctypes.byref(util)) == 0 else None
    major, minor = ctypes.c_int(), ctypes.c_int()
    cc_ok = nv.nvmlDeviceGetCudaComputeCapability(handle, ctypes.byref(major), ctypes.byref(minor))
    cc = (major.value, minor.value) if cc_ok == 0 else None
    return GpuInfo(i, name.value.decode(errors="replace"), int(mem.total), int(mem.used),
                   None if u is None else float(u), cc, driver)  # fmt: skip


def detect_gpus() -> list[GpuInfo]:
    """Every GPU of this machine by device index; [] without NVML (no driver / no GPU)."""
    nv = _nvml()
    if nv is None:
        return []
    try:
        count = ctypes.c_uint()
        if nv.nvmlDeviceGetCount_v2(ctypes.byref(count)) != 0:
            return []
        buf = ctypes.create_string_buffer(96)
        driver = buf.value.decode() if nv.nvmlSystemGetDriverVersion(buf, 96) == 0 else ""
        driver = buf.value.decode() if driver == "" else driver
        return [_gpu(nv, i, driver) for i in range(count.value)]
    finally:
        nv.nvmlShutdown()


def gpu_resource_names(gpus: list[GpuInfo]) -> list[str]:
    """One custom resource name per GPU, in device-index order; a repeated label gets the device
    index as suffix (two 5090s: ``threadx_gpu_5090`` and ``threadx_gpu_5090_1``)."""
    seen: set[str] = set()
    out = []
    for g in gpus:
        label = g.label if g.label not in seen else f"{g.label}_{g.index}"
        seen.add(g.label)
        out.append(RESOURCE_PREFIX + label)
    return out


def node_resources(gpus: list[GpuInfo]) -> dict[str, float]:
    """Custom resources a node advertises for its GPUs (``ray start --resources``)."""
    return {name: 1.0 for name in gpu_resource_names(gpus)}


def gpu_index_for_label(label: str, gpus: list[GpuInfo] | None = None) -> int | None:
    """Device index on this node of the GPU advertised as ``threadx_gpu_<label>``."""
    gpus = detect_gpus() if gpus is None else gpus
    for g, name in zip(gpus, gpu_resource_names(gpus), strict=True):
        if name == RESOURCE_PREFIX + label:
            return g.index
    return None


def devices_from_resources(resources: dict[str, float]) -> dict[str, int]:
    """{label: count} of the GPUs a cluster advertises (inverse of :func:`node_resources`)."""
    return {k[len(RESOURCE_PREFIX):]: int(v) for k, v in resources.items()
            if k.startswith(RESOURCE_PREFIX) and v > 0}  # fmt: skip


def _match(name: str, labels: list[str]) -> list[str]:
    return [lab for lab in labels if lab == name or name in lab]


def resolve_weights(
    labels: list[str], configured: dict[str, float], calibrate: Callable[[str], float] | None = None
) -> dict[str, float]:
    """Share of the work per device label, summing to 1.

    Configured weights (a name matches a label equal to it or contained in it, e.g. "5090")
    win; without them exactly {5090, 2060} get 0.75/0.25; else measured throughputs from
    ``calibrate(label)``; else equal shares.
    """
    labels = sorted(labels)
    if not labels:
        raise ConfigError("no devices to weight")
    if configured:
        w: dict[str, float] = {}
        for name, weight in configured.items():
            if not weight > 0:
                raise ConfigError(f"devices.weights: weight of '{name}' must be > 0, got {weight}")
            hits = _match(name, labels)
            if not hits:
                raise ConfigError(f"devices.weights: device '{name}' is not in the cluster "
                                  f"(devices: {', '.join(labels)})")  # fmt: skip
            for lab in hits:
                w[lab] = weight
        missing = [lab for lab in labels if lab not in w]
        if missing:
            raise ConfigError(f"devices.weights: no weight for device(s) {missing}")
    elif set(labels) == set(DEFAULT_PAIR):
        w = dict(DEFAULT_PAIR)
    elif calibrate is not None and len(labels) > 1:
        w = {lab: float(calibrate(lab)) for lab in labels}
    else:
        w = {lab: 1.0 for lab in labels}
    total = sum(w.values())
    return {lab: w[lab] / total for lab in labels}


def measure_throughput(backend: str = "cpu", seconds: float = 1.0, n_bars: int = 20_000,
                       n_combos: int = 256) -> float:  # fmt: skip
    """Kernel throughput in bar-steps/s on ``backend`` (a short calibration / micro-benchmark on
    seeded synthetic data; the first call includes no compile time: one warm-up run first)."""
    import time

    from threadx.data.synth import gbm_ohlcv
    from threadx.kernels import pack, run_sweep

    f = gbm_ohlcv(n_bars, seed=7)
    grid = [{"bb_period": 10 + i % 30, "bb_std": 1.0 + (i // 30) * 0.25} for i in range(n_combos)]
    packed = pack(grid, f["open"], f["high"], f["low"], f["close"])
    first, last = int(f.index.asi8[0]), int(f.index.asi8[-1])
    run_sweep(packed, first, last, 1, backend=backend)  # warm-up (JIT / cache load)
    steps, t0 = 0, time.perf_counter()
    while True:
        run_sweep(packed, first, last, 1, backend=backend)
        steps += n_bars * n_combos
        el = time.perf_counter() - t0
        if el >= seconds:
            return steps / el
