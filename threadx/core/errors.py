"""Exception types. Every error message names where (file, row, key) and which rule was broken."""

from __future__ import annotations


class ThreadXError(Exception):
    """Base class of all ThreadX errors (the CLI prints ``str(err)`` on one line and exits 2)."""


class ConfigError(ThreadXError, ValueError):
    """An invalid configuration file, key or value."""


class DataError(ThreadXError, ValueError):
    """Invalid market data: a broken schema rule, a bad file, a checksum mismatch."""


class StoreError(ThreadXError):
    """The on-disk store is inconsistent or an operation on it is not allowed."""
