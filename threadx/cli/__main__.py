"""``python -m threadx.cli``: the ``threadx`` command."""

from threadx.cli import entry

entry()
