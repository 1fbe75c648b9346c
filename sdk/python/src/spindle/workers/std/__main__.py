import sys
import warnings

from spindle.py_std import main

warnings.warn(
    "`python -m spindle.workers.std` is deprecated: run `python -m spindle.py_std` (or spindle-py-std)",
    DeprecationWarning,
    stacklevel=1,
)
sys.exit(main())
