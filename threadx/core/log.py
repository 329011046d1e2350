"""One logger tree, ``threadx.*``: module loggers propagate to it; it writes a rotating file."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from threadx.core.config import ThreadXConfig

ROOT_LOGGER = "threadx"
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(process)d] %(message)s"
_HANDLER_TAG = "_threadx_handler"


def get_logger(name: str) -> logging.Logger:
    """A logger inside the ``threadx`` tree (``get_logger(__name__)`` in every module)."""
    if name != ROOT_LOGGER and not name.startswith(ROOT_LOGGER + "."):
        name = f"{ROOT_LOGGER}.{name}"
    return logging.getLogger(name)


def setup_logging(cfg: ThreadXConfig, *, console_level: str | None = "WARNING") -> Path:
    """Attach a rotating file handler (and optionally stderr) to the ``threadx`` logger.

    Idempotent: handlers installed by an earlier call are replaced. Returns the log file path.
    """
    logger = logging.getLogger(ROOT_LOGGER)
    for h in list(logger.handlers):
        if getattr(h, _HANDLER_TAG, False):
            logger.removeHandler(h)
            h.close()
    logs = cfg.logs_dir
    logs.mkdir(parents=True, exist_ok=True)
    path = logs / cfg.logging.file
    fh = logging.handlers.RotatingFileHandler(
        path, maxBytes=cfg.logging.max_bytes, backupCount=cfg.logging.backup_count, encoding="utf-8"
    )
    fh.setFormatter(logging.Formatter(_FORMAT))
    setattr(fh, _HANDLER_TAG, True)
    logger.addHandler(fh)
    if console_level:
        ch = logging.StreamHandler()
        ch.setLevel(console_level)
        ch.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        setattr(ch, _HANDLER_TAG, True)
        logger.addHandler(ch)
    logger.setLevel(cfg.logging.level)
    logger.propagate = False
    return path
