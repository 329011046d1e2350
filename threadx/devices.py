"""GPU devices: discovery per device index (NVML, through NVIDIA's ``nvidia-ml-py``), labels,
Ray resources and work weights.

Ray's own accelerator label reads device 0 only, so ThreadX names every GPU itself: each GPU of a
node is advertised as a custom resource ``threadx_gpu_<label>`` (``<label>`` from the marketing
name: "NVIDIA GeForce RTX 5090" -> "5090"), which pins a worker to that device. CPU-only tests
fake GPUs by starting Ray with such resources
(``ray.init(num_gpus=2, resources={"threadx_gpu_5090": 1, "threadx_gpu_2060": 1})``).

Device indices are NVML's, which follow the PCI bus order. CUDA numbers devices fastest-first
unless ``CUDA_DEVICE_ORDER=PCI_BUS_ID``; :func:`actors.head.cluster_up` sets it for the whole
cluster so that an NVML index is also the CUDA device index.

``python -m threadx.devices`` prints this machine's GPUs as JSON; ``--resources`` prints the JSON
that ``ray start --resources`` takes (used by ``cluster.yaml`` on every node).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from threadx.core.errors import ConfigError, ThreadXError

RESOURCE_PREFIX = "threadx_gpu_"
DEFAULT_PAIR = {"5090": 0.75, "2060": 0.25}
_VENDOR_WORDS = re.compile(r"\b(?:NVIDIA|GeForce|Tesla|Quadro)\b", flags=re.I)


@dataclass(frozen=True)
class GpuInfo:
    """One GPU as NVML sees it (``index`` is the NVML / PCI-bus-order device index)."""

    index: int
    name: str
    memory_total: int  # bytes
    memory_used: int  # bytes
    utilization: float | None  # percent of time a kernel ran over the last sample period
    compute_capability: tuple[int, int] | None
    driver: str

    @property
    def label(self) -> str:
        """Short label of the marketing name (``"5090"``, ``"H100"``)."""
        return device_label(self.name)


@dataclass(frozen=True)
class GpuUsage:
    """Live load of one GPU (for cluster views): utilisation in percent, memory in bytes."""

    index: int
    utilization: float | None
    memory_used: int
    memory_total: int


def device_label(name: str) -> str:
    """Short label of a GPU's marketing name, usable in a Ray resource name ([A-Za-z0-9_]).

    GeForce/Quadro numbers ("NVIDIA GeForce RTX 5090" -> "5090", "RTX 4090 Ti" -> "4090Ti",
    "NVIDIA RTX A6000" -> "A6000"), else the model ("NVIDIA H100 80GB HBM3" -> "H100",
    "Tesla T4" -> "T4"), else the name without vendor words, sanitised ("TITAN V" -> "TITAN_V").
    """
    m = re.search(r"\b(?:RTX|GTX)\s*(A?\d{3,4}(?:\s*(?:Ti|SUPER)\b)?)", name, flags=re.I)
    if m:
        return re.sub(r"\s+", "", m.group(1))
    m = re.search(r"\b([A-Z]{1,2}\d{1,4}[A-Za-z]?)\b", name)
    if m:
        return m.group(1)
    rest = _VENDOR_WORDS.sub(" ", name)
    return re.sub(r"[^A-Za-z0-9_]+", "_", rest).strip("_") or "gpu"


# ----------------------------------------------------------------------------- NVML


def _pynvml() -> Any | None:
    """NVIDIA's own NVML binding (``nvidia-ml-py``), which finds ``libnvidia-ml.so.1`` on Linux and
    ``nvml.dll`` on Windows; None where the package is not installed."""
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


@contextmanager
def _nvml() -> Iterator[Any | None]:
    """NVML initialised for the duration of the block (None without a driver / GPU)."""
    nv = _pynvml()
    if nv is not None:
        try:
            nv.nvmlInit()
        except nv.NVMLError:
            nv = None
    try:
        yield nv
    finally:
        if nv is not None:
            nv.nvmlShutdown()


def _text(value: str | bytes) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _handles(nv: Any) -> Iterator[tuple[int, Any]]:
    try:
        count = nv.nvmlDeviceGetCount()
    except nv.NVMLError:
        return
    for i in range(count):
        try:
            yield i, nv.nvmlDeviceGetHandleByIndex(i)
        except nv.NVMLError:
            continue  # a device NVML cannot open (lost, no permission) is skipped


def _memory(nv: Any, handle: Any) -> tuple[int, int]:
    try:
        mem = nv.nvmlDeviceGetMemoryInfo(handle)
    except nv.NVMLError:
        return 0, 0
    return int(mem.used), int(mem.total)


def _utilization(nv: Any, handle: Any) -> float | None:
    try:
        return float(nv.nvmlDeviceGetUtilizationRates(handle).gpu)
    except nv.NVMLError:
        return None  # not supported on this device (e.g. some GeForce in WDDM mode)


def _gpu(nv: Any, index: int, handle: Any, driver: str) -> GpuInfo:
    try:
        name = _text(nv.nvmlDeviceGetName(handle))
    except nv.NVMLError:
        name = "unknown GPU"
    used, total = _memory(nv, handle)
    try:
        major, minor = nv.nvmlDeviceGetCudaComputeCapability(handle)
        cc: tuple[int, int] | None = (int(major), int(minor))
    except nv.NVMLError:
        cc = None
    return GpuInfo(index, name, total, used, _utilization(nv, handle), cc, driver)


def detect_gpus() -> list[GpuInfo]:
    """Every GPU of this machine by NVML device index; [] without NVML (no driver / no GPU)."""
    with _nvml() as nv:
        if nv is None:
            return []
        try:
            driver = _text(nv.nvmlSystemGetDriverVersion())
        except nv.NVMLError:
            driver = ""
        return [_gpu(nv, i, h, driver) for i, h in _handles(nv)]


def gpu_utilization() -> list[GpuUsage]:
    """Live utilisation and memory of every GPU here (cheap; for GUI / status views)."""
    with _nvml() as nv:
        if nv is None:
            return []
        return [GpuUsage(i, _utilization(nv, h), *_memory(nv, h)) for i, h in _handles(nv)]


# ----------------------------------------------------------------------------- Ray resources


def gpu_resource_names(gpus: list[GpuInfo]) -> list[str]:
    """One custom resource name per GPU, in device-index order.

    The first GPU with a label gets ``threadx_gpu_<label>``; any further GPU with the same label
    gets its device index as suffix (two 5090s at indices 0 and 2: ``threadx_gpu_5090`` and
    ``threadx_gpu_5090_2``), so every GPU of a node has its own resource.
    """
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
    """{label: count} of the GPUs a cluster advertises (inverse of :func:`node_resources`;
    ``ray.cluster_resources()`` sums a label over nodes)."""
    return {
        k[len(RESOURCE_PREFIX) :]: int(v)
        for k, v in resources.items()
        if k.startswith(RESOURCE_PREFIX) and v >= 1
    }


# ----------------------------------------------------------------------------- weights


def _per_device(labels: list[str], configured: dict[str, Any], key: str) -> dict[str, Any]:
    """``{label: value}`` of the labels a configured name matches (an exact, case-insensitive
    match wins, else a name contained in the label: "5090" ~ "5090_2"); ConfigError naming
    ``devices.<key>`` for a name that matches no device or a device that several names match."""
    for name in configured:
        if not any(_matches(name, lab) for lab in labels):
            raise ConfigError(
                f"devices.{key}: device '{name}' is not in the cluster "
                f"(devices: {', '.join(labels)})"
            )
    out: dict[str, Any] = {}
    for lab in labels:
        exact = [n for n in configured if n.lower() == lab.lower()]
        hits = exact or [n for n in configured if _matches(n, lab)]
        if len(hits) > 1:
            raise ConfigError(
                f"devices.{key}: device '{lab}' matches several entries "
                f"({', '.join(hits)}); name it exactly"
            )
        if hits:
            out[lab] = configured[hits[0]]
    return out


def _configured_weights(labels: list[str], configured: dict[str, float]) -> dict[str, float]:
    for name, weight in configured.items():
        if not (isinstance(weight, int | float) and math.isfinite(weight) and weight > 0):
            raise ConfigError(
                f"devices.weights: weight of '{name}' must be a number > 0, got {weight!r}"
            )
    w = {lab: float(v) for lab, v in _per_device(labels, configured, "weights").items()}
    missing = [lab for lab in labels if lab not in w]
    if missing:
        raise ConfigError(
            f"devices.weights: no weight for device(s) {', '.join(missing)} "
            "(give every device a weight, or none to use the defaults)"
        )
    return w


def slots_per_device(labels: list[str], configured: dict[str, int]) -> dict[str, int]:
    """Worker slots per GPU label (``devices.workers``; 1 where not configured): each of the k
    workers of a device requests 1/k of it, so Ray places exactly k there."""
    counts = _per_device(labels, configured, "workers")
    return {lab: int(counts.get(lab, 1)) for lab in labels}


def _matches(name: str, label: str) -> bool:
    """A configured name matches a label equal to it or contained in it ("5090" ~ "5090_1")."""
    return name.lower() == label.lower() or name.lower() in label.lower()


def _calibrated(labels: list[str], calibrate: Callable[[str], float]) -> dict[str, float]:
    w = {}
    for lab in labels:
        value = float(calibrate(lab))
        if not (math.isfinite(value) and value > 0):
            raise ThreadXError(
                f"calibration of device '{lab}' measured {value!r} bar-steps/s; "
                "set devices.weights in threadx.toml instead"
            )
        w[lab] = value
    return w


def resolve_weights(
    labels: list[str], configured: dict[str, float], calibrate: Callable[[str], float] | None = None
) -> dict[str, float]:
    """Share of the work per device label, summing to 1, in label order.

    1. Configured weights (``devices.weights``; a name matches a label equal to it or contained
       in it, case-insensitively, e.g. "5090" matches "5090" and "5090_2"; an exact match wins)
       -- every device needs one, each must be > 0.
    2. Without them, exactly {5090, 2060} get 0.75/0.25 (the original machine).
    3. Else the throughputs measured by ``calibrate(label)`` (bar-steps/s), normalised.
    4. Else equal shares.
    """
    labels = sorted(set(labels))
    if not labels:
        raise ConfigError("devices.weights: no devices to weight")
    if configured:
        w = _configured_weights(labels, configured)
    elif set(labels) == set(DEFAULT_PAIR):
        w = dict(DEFAULT_PAIR)
    elif calibrate is not None and len(labels) > 1:
        w = _calibrated(labels, calibrate)
    else:
        w = {lab: 1.0 for lab in labels}
    total = sum(w.values())
    return {lab: w[lab] / total for lab in labels}


# ----------------------------------------------------------------------------- calibration


def measure_throughput(
    backend: str = "cpu", seconds: float = 1.0, n_bars: int = 20_000, n_combos: int = 256
) -> float:
    """Kernel throughput in bar-steps/s on ``backend`` (a short calibration / micro-benchmark on
    seeded synthetic data; the first call includes no compile time: one warm-up run first).

    A bar-step is one bar of one combination; timed runs repeat until ``seconds`` have passed.
    """
    from threadx.data.synth import gbm_ohlcv
    from threadx.kernels import run_sweep
    from threadx.strategy.pack import pack

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


def calibrate_cpu_throughput(seconds: float = 1.0) -> float:
    """Bar-steps per second of the CPU kernel on this machine (a ``seconds``-long benchmark)."""
    return measure_throughput("cpu", seconds)


def main(argv: list[str] | None = None) -> int:
    """``python -m threadx.devices [--resources]``: this machine's GPUs (or resources) as JSON."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m threadx.devices", description=main.__doc__)
    parser.add_argument(
        "--resources", action="store_true", help="print `ray start --resources` JSON of the GPUs"
    )
    args = parser.parse_args(argv)
    gpus = detect_gpus()
    if args.resources:
        print(json.dumps(node_resources(gpus), separators=(",", ":")))
    else:
        print(json.dumps([{**asdict(g), "label": g.label} for g in gpus], indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess in the tests
    raise SystemExit(main())
