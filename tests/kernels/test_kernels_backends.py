"""Choosing the kernel backend: CPU always, GPU only with a usable CUDA device and a reason
otherwise; importing the kernels loads no CUDA package; the GPU code path under numba's CUDA
simulator equals the CPU kernel (the GPU parity on a real device is in
tests/kernels/test_kernels.py,
marked ``gpu``)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import run_python
from threadx.kernels import gpu_unavailable_reason, resolve_backend

REPO = Path(__file__).resolve().parents[2]


def test_resolve_backend_cpu_and_bad_name() -> None:
    assert resolve_backend("cpu") == "cpu"
    assert resolve_backend("auto") in ("cpu", "gpu")
    with pytest.raises(ValueError, match="auto, cpu, gpu"):
        resolve_backend("tpu")


def test_gpu_backend_without_cuda_raises_with_a_reason() -> None:
    reason = gpu_unavailable_reason()
    if reason is None:
        assert resolve_backend("gpu") == "gpu"
        pytest.skip("a CUDA device is usable here; the failure path is covered by the next test")
    with pytest.raises(RuntimeError) as info:
        resolve_backend("gpu")
    message = str(info.value)
    assert "gpu" in message and reason in message
    assert any(w in message for w in ("numba-cuda", "driver", "device"))
    assert resolve_backend("auto") == "cpu"


def test_missing_numba_cuda_is_reported(monkeypatch) -> None:
    import threadx.kernels.gpu as gpu

    def no_cuda():
        raise ImportError("No module named 'numba.cuda'")

    monkeypatch.setattr(gpu, "import_cuda", no_cuda)
    assert "numba-cuda is not installed" in gpu_unavailable_reason()
    with pytest.raises(RuntimeError, match="numba-cuda is not installed"):
        resolve_backend("gpu")
    assert resolve_backend("auto") == "cpu"


def _run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_python(code, cwd=REPO, env=dict(os.environ, **env), timeout=240)


def test_importing_kernels_imports_no_cuda_or_cupy() -> None:
    proc = _run_python(
        """
        import sys
        import threadx.kernels, threadx.kernels.cpu, threadx.kernels.gpu, threadx.kernels.layout
        loaded = [m for m in sys.modules if m.startswith(("numba.cuda", "cupy"))]
        assert not loaded, loaded
        print("ok")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_gpu_kernel_under_the_cuda_simulator_equals_cpu() -> None:
    """The GPU code path (device body, launch, transfers) run by numba's CUDA simulator."""
    proc = _run_python(
        """
        import numpy as np
        from threadx.kernels import resolve_backend
        from threadx.strategy.pack import pack
        from threadx.kernels.cpu import run_sweep_cpu
        from threadx.kernels.gpu import run_sweep_gpu
        from threadx.sample import load_sample
        frame = load_sample().iloc[3000:3400]
        ohlc = [frame[c].to_numpy() for c in ("open", "high", "low", "close")]
        rng = np.random.default_rng(3)
        combos = [{"bb_period": int(rng.integers(2, 40)), "bb_std": float(rng.uniform(0.5, 2.5)),
                   "trend_period": int(rng.choice([0, 30])), "spacing_bars": int(rng.integers(8)),
                   "atr_method": str(rng.choice(["ema", "sma", "wilder"])),
                   "direction": str(rng.choice(["both", "long", "short"])),
                   "leverage": float(rng.choice([1.0, 300.0])),
                   "risk_per_trade": float(rng.choice([0.01, 1.0]))} for _ in range(40)]
        packed = pack(combos, *ohlc)
        ns = frame.index.asi8
        assert resolve_backend("auto") == "gpu"
        gpu = run_sweep_gpu(packed, ns[0], ns[-1], 1)
        cpu = run_sweep_cpu(packed, ns[0], ns[-1], 1)
        assert gpu.shape == cpu.shape == (40, 18 + 2 + 16)
        assert np.abs(cpu[:, 20:]).sum() > 0 and not np.all(cpu[:, 19] == 3.0)
        assert cpu[:, 8].sum() > 0
        assert np.array_equal(gpu, cpu), np.abs(gpu - cpu).max()
        print("ok")
        """,
        NUMBA_ENABLE_CUDASIM="1",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")
