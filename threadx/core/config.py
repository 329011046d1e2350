"""Configuration: pydantic models mirrored by ``configs/threadx.toml``.

Nothing is loaded at import time and there is no global settings object: callers load a
:class:`ThreadXConfig` with :func:`load_config` and pass it on explicitly (to Ray actors too).

Paths in the file are relative to the file's folder. A path that ends up outside the project (the
folder holding ``configs/``, or the config file's folder) is refused unless
``paths.allow_absolute_paths = true``. Every error names the file, the key and the rule.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator

from threadx.core.errors import ConfigError
from threadx.core.models import StrictModel, format_validation_error, load_toml

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
ENV_CONFIG = "THREADX_CONFIG"
ENV_DATA_ROOT = "THREADX_DATA_ROOT"
ENV_LOGS = "THREADX_LOGS"  # a log folder taken as given (the tests point it at a tmp folder)


class _Model(StrictModel):
    model_config = ConfigDict(validate_assignment=True)


class PathsConfig(_Model):
    data_root: str = Field(
        "../data", description="Store root (OHLCV, catalog, runs); relative to the config file."
    )
    logs: str = Field("../logs", description="Folder for rotating log files; relative to the file.")
    allow_absolute_paths: bool = Field(
        False, description="Allow data_root/logs to point outside the project folder."
    )


class DevicesConfig(_Model):
    weights: dict[str, float] = Field(
        default_factory=dict,
        description=(
            "Device name -> share of the work, e.g. {'5090' = 0.75, '2060' = 0.25}. Empty: the "
            "default 0.75/0.25 when those cards are present, else calibrated or equal."
        ),
    )
    workers: dict[str, int] = Field(
        default_factory=dict,
        description=(
            "GPU name -> worker slots on each such GPU, each requesting 1/k of it (e.g. "
            "{'5090' = 3, '2060' = 1}); with schedule = 'adaptive' Ray's placement then sets "
            "the ratio. Empty: one worker per GPU."
        ),
    )
    schedule: Literal["weighted", "adaptive"] = Field(
        "weighted",
        description="weighted: each device gets exactly its share; adaptive: faster pull more.",
    )
    cpu_workers: int = Field(
        0, ge=0, description="CPU worker actors when no GPU is used; 0 = one per 'cpus_per_worker'."
    )
    cpus_per_worker: int = Field(1, ge=1, description="CPUs each CPU worker declares to Ray.")

    @field_validator("workers")
    @classmethod
    def _workers_range(cls, v: dict[str, int]) -> dict[str, int]:
        for name, k in v.items():
            if not 1 <= k <= 64:
                raise ValueError(f"workers of device '{name}' must be in [1, 64], got {k}")
        return v

    @field_validator("weights")
    @classmethod
    def _weights_positive(cls, v: dict[str, float]) -> dict[str, float]:
        for name, w in v.items():
            if not (w > 0):
                raise ValueError(f"weight of device '{name}' must be > 0, got {w}")
        return v


class ClusterConfig(_Model):
    address: str = Field(
        "", description="Ray address to join ('auto', 'host:6379', 'ray://...'); '' = embedded."
    )
    namespace: str = Field("threadx", description="Ray namespace of the named actors.")
    dashboard_host: str = Field("127.0.0.1", description="Bind address of the Ray dashboard.")
    dashboard_port: int = Field(8265, ge=1, le=65535, description="Port of the Ray dashboard.")


class LoggingConfig(_Model):
    level: str = Field("INFO", description=f"One of {', '.join(LOG_LEVELS)}.")
    file: str = Field("threadx.log", description="Log file name inside paths.logs.")
    max_bytes: int = Field(10 * 1024 * 1024, gt=0, description="Rotate after this many bytes.")
    backup_count: int = Field(5, ge=0, description="Rotated files to keep.")

    @field_validator("level")
    @classmethod
    def _level(cls, v: str) -> str:
        up = v.upper()
        if up not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}, got {v!r}")
        return up


class SweepLimits(_Model):
    memory_budget_gb: float = Field(
        8.0, gt=0, description="Refuse sweeps whose estimated peak memory exceeds this."
    )


class ThreadXConfig(_Model):
    """The whole configuration. ``source`` and ``base_dir`` say where it came from."""

    paths: PathsConfig = Field(default_factory=PathsConfig)
    devices: DevicesConfig = Field(default_factory=DevicesConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    sweep: SweepLimits = Field(default_factory=SweepLimits)
    source: str = Field("<defaults>", description="File the config was read from.", exclude=True)
    base_dir: str = Field(".", description="Folder relative paths are resolved from.", exclude=True)

    # -- resolved paths ------------------------------------------------------------------------
    def _resolve(self, value: str, key: str) -> Path:
        base = Path(self.base_dir)
        p = Path(value).expanduser()
        resolved = (p if p.is_absolute() else base / p).resolve()
        if not self.paths.allow_absolute_paths:
            project = project_root(base)
            if not resolved.is_relative_to(project):
                raise ConfigError(
                    f"{self.source}: key 'paths.{key}': {value!r} resolves to {resolved}, outside "
                    f"the project {project}; set paths.allow_absolute_paths = true to allow it"
                )
        return resolved

    @property
    def data_root(self) -> Path:
        return self._resolve(self.paths.data_root, "data_root")

    @property
    def logs_dir(self) -> Path:
        return self._resolve(self.paths.logs, "logs")

    def to_toml_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def project_root(config_dir: Path) -> Path:
    """The project folder: the parent of a ``configs`` folder, else the config's own folder."""
    config_dir = Path(config_dir).resolve()
    return config_dir.parent if config_dir.name == "configs" else config_dir


def config_from_dict(data: dict[str, Any], source: str, base_dir: Path) -> ThreadXConfig:
    for forbidden in ("source", "base_dir"):
        if forbidden in data:
            raise ConfigError(f"{source}: key '{forbidden}': unknown key (reserved)")
    try:
        return ThreadXConfig(**data, source=source, base_dir=str(Path(base_dir).resolve()))
    except ValidationError as err:
        raise ConfigError(
            format_validation_error(
                err, source, unknown="unknown key (not part of the configuration schema)"
            )
        ) from None


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """--config, then $THREADX_CONFIG, then ./configs/threadx.toml; None means built-in defaults."""
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found")
        return p
    env = os.environ.get(ENV_CONFIG)
    if env:
        p = Path(env)
        if not p.is_file():
            raise ConfigError(f"{p}: config file named by ${ENV_CONFIG} not found")
        return p
    p = Path.cwd() / "configs" / "threadx.toml"
    return p if p.is_file() else None


def load_config(path: str | os.PathLike[str] | None = None) -> ThreadXConfig:
    """Load and validate a config file (see :func:`find_config` for the search order)."""
    found = find_config(path)
    if found is None:
        defaults = {"paths": {"data_root": "threadx-data", "logs": "threadx-data/logs"}}
        return config_from_dict(defaults, "<defaults>", Path.cwd())
    return config_from_dict(load_toml(found, "config file"), str(found), found.parent)


def apply_overrides(
    cfg: ThreadXConfig, *, data_root: str | None = None, log_level: str | None = None
) -> ThreadXConfig:
    """CLI/environment overrides. An explicit --data-root (or $THREADX_DATA_ROOT) is the user's own
    choice, so it is taken as given (resolved against the current folder); so is $THREADX_LOGS, a
    folder for the log files (the data root then stays checked against the project as usual)."""
    data = cfg.model_dump()
    allow = cfg.paths.allow_absolute_paths
    base = cfg.base_dir
    data_root = data_root or os.environ.get(ENV_DATA_ROOT)
    if data_root:
        data["paths"]["data_root"] = str(Path(data_root).expanduser().resolve())
        allow = True
        if cfg.source == "<defaults>":  # no config file: keep the logs beside the data
            data["paths"]["logs"] = str(Path(data["paths"]["data_root"]) / "logs")
        elif not Path(cfg.paths.logs).is_absolute():
            data["paths"]["logs"] = str(cfg.logs_dir)
    logs = os.environ.get(ENV_LOGS)
    if logs:
        if not data_root:  # checked under the file's own rule before the rule is relaxed
            data["paths"]["data_root"] = str(cfg.data_root)
        data["paths"]["logs"] = str(Path(logs).expanduser().resolve())
        allow = True
    data["paths"]["allow_absolute_paths"] = allow
    if log_level:
        data["logging"]["level"] = log_level
    return config_from_dict(data, cfg.source + " + overrides", Path(base))
