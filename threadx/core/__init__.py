"""Infrastructure every part of ThreadX uses, and nothing domain-specific: errors, configuration,
logging, atomic writes, the JSON policy, SHA-256 identities, time units, UTC, the pydantic base.

Each module imports nothing of ThreadX beyond this package (the kernels may use ``units`` and
``errors``); this ``__init__`` imports nothing, so importing one module stays cheap.
"""
