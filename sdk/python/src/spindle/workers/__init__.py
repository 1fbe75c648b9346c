"""Ready-made workers. ``spindle.workers.std`` is the ``py-std`` worker (the ``script`` activity)."""
