from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The suite runs from a checkout without installing the package.
_SRC = Path(__file__).resolve().parent.parent / "src"
if str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))
_TESTS = Path(__file__).resolve().parent
if str(_TESTS) not in sys.path:
    sys.path.insert(0, str(_TESTS))

# Every call in this suite goes to 127.0.0.1; a proxy from the CI environment must not intercept it.
for _name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
    os.environ.pop(_name, None)
os.environ.pop("SPINDLE_HTTP_CLIENT", None)

from spindle import SpindleClient  # noqa: E402
from support import PyStdProcess, SpindleServer  # noqa: E402


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpindleServer]:
    """One real server for the session, with its in-process std worker (it serves only ``worker: std``)."""
    instance = SpindleServer(data_dir=tmp_path_factory.mktemp("spindle-data"))
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session")
def client(server: SpindleServer) -> Iterator[SpindleClient]:
    with SpindleClient(server.url) as c:
        yield c


@pytest.fixture(scope="session")
def py_std(server: SpindleServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PyStdProcess]:
    """The py-std worker started the way ``spindle serve --python-workers`` starts it."""
    log_dir = tmp_path_factory.mktemp("py-std")
    worker = PyStdProcess(server.url, log_dir / "py-std.log").start()
    try:
        yield worker
    finally:
        worker.stop()
