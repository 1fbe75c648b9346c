"""The ``py-std`` worker: serves the ``script`` activity (docs/worker-protocol.md).

Run it as ``spindle-py-std`` or ``python -m spindle.py_std``; it reads ``SPINDLE_*`` variables. This module
stays light (no httpx import) because the script processes import the package it belongs to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..worker.runner import Worker

__all__ = ["create_worker", "main", "DEFAULT_ROUTING_KEY"]

DEFAULT_ROUTING_KEY = "py-std"


def create_worker(
    *,
    warm_processes: int | None = None,
    max_processes: int | None = None,
    isolation: str | None = None,
    memory_mb: int | None = None,
    **options: Any,
) -> Worker:
    """A :class:`~spindle.worker.Worker` serving ``script`` on ``py-std`` (or ``SPINDLE_WORKER`` /
    ``SPINDLE_WORKER_TYPE``). ``warm_processes`` and ``max_processes`` size the interpreter pool (see
    :class:`~spindle.py_std.script.ScriptActivity`; default from ``SPINDLE_PY_STD_*``); ``isolation``
    (``auto``/``bwrap``/``none``) and ``memory_mb`` set the scripts' sandbox (:mod:`~spindle.py_std.sandbox`).
    ``options`` are :class:`~spindle.worker.WorkerConfig` fields overriding the environment."""
    from ..worker.config import WorkerConfig
    from ..worker.runner import Worker
    from .sandbox import ISOLATION_MODES, Limits
    from .script import ScriptActivity

    if isolation is not None and isolation not in ISOLATION_MODES:
        raise ValueError(f"isolation must be one of {', '.join(ISOLATION_MODES)}, got {isolation!r}")
    config = WorkerConfig.from_env(default_worker=DEFAULT_ROUTING_KEY, read_worker_type=True, **options)
    worker = Worker(config=config)
    worker.register(
        "script",
        ScriptActivity(
            warm_processes=warm_processes,
            max_processes=max_processes,
            isolation=isolation,
            limits=Limits.from_env(memory_mb=memory_mb),
        ),
    )
    return worker


def main(argv: list[str] | None = None) -> int:
    """Console entry point: runs the worker until SIGTERM/SIGINT, then drains."""
    import argparse
    import logging
    import os

    parser = argparse.ArgumentParser(
        prog="spindle-py-std",
        description="Spindle's py-std worker: runs `script` activities (Python code) in warm subprocesses. "
        "Settings come from SPINDLE_* environment variables; these options override them.",
    )
    parser.add_argument("--api-url", help="server base URL (SPINDLE_API_URL)")
    parser.add_argument("--worker", help="routing key to serve (SPINDLE_WORKER; default py-std)")
    parser.add_argument("--worker-id", help="lease owner name (SPINDLE_WORKER_ID; default worker_<12 hex>)")
    parser.add_argument("--max-activities", type=int, help="concurrent scripts (SPINDLE_WORKER_MAX_ACTIVITIES; 16)")
    parser.add_argument("--poll-batch", type=int, help="activities per poll (SPINDLE_WORKER_POLL_MAX_ACTIVITIES; 10)")
    parser.add_argument(
        "--warm-processes",
        type=int,
        help="interpreters started up front and kept (SPINDLE_PY_STD_WARM_PROCESSES; min(max activities, 4))",
    )
    parser.add_argument(
        "--max-processes",
        type=int,
        help="cap on script interpreters (SPINDLE_PY_STD_MAX_PROCESSES; default --max-activities). Beyond the warm "
        "ones, one starts only for a script that waited 20 ms for an idle one, so fast scripts share a few",
    )
    parser.add_argument(
        "--isolation",
        choices=("auto", "bwrap", "none"),
        help="how scripts are isolated (SPINDLE_PY_STD_ISOLATION; default auto: bubblewrap when it works here, "
        "else reduced isolation with a warning; bwrap: refuse to start without it)",
    )
    parser.add_argument(
        "--memory-mb",
        type=int,
        help="address-space limit of each script in MiB (SPINDLE_PY_STD_MEMORY_MB; default 2048); an activity's "
        "settings.memory_mb may lower it",
    )
    parser.add_argument("--log-level", default=os.environ.get("SPINDLE_LOG_LEVEL", "INFO"), help="INFO by default")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        worker = create_worker(
            warm_processes=args.warm_processes,
            max_processes=args.max_processes,
            isolation=args.isolation,
            memory_mb=args.memory_mb,
            api_url=args.api_url,
            worker=args.worker,
            worker_id=args.worker_id,
            max_concurrency=args.max_activities,
            poll_batch_size=args.poll_batch,
        )
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))
    worker.run()
    return 0
