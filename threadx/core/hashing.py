"""SHA-256: the one home of every digest ThreadX derives an identity or a cache key from.

The byte layouts below are fixed: run ids, spec fingerprints, data fingerprints and cache keys
are made of them, so changing one changes every id (``tests/core/test_hashing.py`` pins them).

* :func:`sha256_file` -- a file's bytes (catalog checksums, archive ``.CHECKSUM`` checks);
* :func:`sha256_json` -- the canonical JSON text of a value (spec fingerprints, run ids, bars
  cache keys);
* :func:`sha256_arrays` -- numpy arrays' dtypes, shapes and bytes (data fingerprints);
* :func:`source_version` -- source files of ThreadX modules and the package version (the code
  versions in cache keys: a change of the code is a miss).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["sha256_arrays", "sha256_file", "sha256_json", "source_version"]


def sha256_file(path: Path | str) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(obj: Any, *, compact: bool = True) -> str:
    """Hex SHA-256 of ``json.dumps(obj, sort_keys=True, default=str)`` in UTF-8: keys sorted,
    non-JSON values by ``str``. ``compact``: separators ``","`` and ``":"`` (spec fingerprints);
    ``compact=False``: json's default ``", "`` and ``": "`` (run ids and bars cache keys were
    defined with them)."""
    seps = (",", ":") if compact else (", ", ": ")
    text = json.dumps(obj, sort_keys=True, separators=seps, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def sha256_arrays(*arrays: np.ndarray) -> str:
    """Hex SHA-256 over each array's dtype, shape and C-order bytes, in order (no copy of a
    contiguous array)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(memoryview(a).cast("B"))  # no copy
    return h.hexdigest()


def _source(module: str) -> bytes:
    """The source file of ``threadx.<module>`` as the import system finds it (the imported
    module's own file when it is imported; a Ray job's working_dir copy may lack files its
    imports never use), without importing it."""
    spec = importlib.util.find_spec(f"threadx.{module}")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"threadx.{module}: no source file")
    return Path(spec.origin).read_bytes()


def source_version(*modules: str, version_last: bool = False) -> str:
    """12 hex digits of SHA-256 over ``threadx.__version__`` and the source files of
    ``modules`` (names below ``threadx``, e.g. ``"data.store"``), so that cached results made
    by other code never match. Layout: ``version, b"\\0" + source, ...``; ``version_last``
    (the indicator cache's layout): ``source..., b"\\0threadx " + version``."""
    import threadx  # read at each call: the version of the package as it is now

    version = threadx.__version__.encode()
    if version_last:
        h = hashlib.sha256(b"".join(_source(m) for m in modules))
        h.update(b"\0threadx " + version)
    else:
        h = hashlib.sha256(version)
        for m in modules:
            h.update(b"\0" + _source(m))
    return h.hexdigest()[:12]
