"""Deprecated: the old home of the ``py-std`` worker, which is now :mod:`spindle.py_std`.

``spindle.workers`` sat beside the worker framework :mod:`spindle.worker` and was easy to confuse with it. Importing
``spindle.workers.std`` (or any of its modules, e.g. ``spindle.workers.std.sandbox``) still works and gives the very
same module objects as ``spindle.py_std``, with a :class:`DeprecationWarning`.
"""

from __future__ import annotations

import warnings

warnings.warn(
    "spindle.workers.std is deprecated: import spindle.py_std (run it as `python -m spindle.py_std` or spindle-py-std)",
    DeprecationWarning,
    stacklevel=2,
)
