import sys

from spindle.workers.std import main

sys.exit(main())
