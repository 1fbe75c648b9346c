import sys

from spindle.py_std import main

sys.exit(main())
