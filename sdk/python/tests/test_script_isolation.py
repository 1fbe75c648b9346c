"""Scripts run outside the server's trust: a probing script against a real secured server, with py-std workers
started by ``spindle serve --python-workers`` and by hand (as root on CI, so privileges are dropped too)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spindle import SpindleClient, Worker, WorkerConfig
from support import (
    MARK_PROCESS,
    PyStdProcess,
    SpindleServer,
    WorkerThread,
    create_client,
    marked_processes,
    marker,
    unique,
    wait_until,
)

#: In the server's environment only: a script must never find it.
CANARY = "canary-" + uuid.uuid4().hex

PROBE = r"""
import ctypes, glob, os, subprocess, sys, time

canaries = [c.encode() for c in INPUT['canaries']]
mark = INPUT['marker']

def hits(data):
    return [c.decode() for c in canaries if c in data]

leaks = []
for path in [f'/proc/{os.getppid()}/environ'] + glob.glob('/proc/*/environ') + glob.glob('/proc/*/cmdline'):
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError:
        continue
    if hits(data):
        leaks.append([path, hits(data)])

reads = {}
for path in INPUT['paths']:
    try:
        if os.path.isdir(path):
            os.listdir(path)
            reads[path] = 'listed'
        else:
            with open(path, 'rb') as f:
                f.read(1)
            reads[path] = 'read'
    except OSError as exc:
        reads[path] = type(exc).__name__

environment = '\0'.join(f'{k}={v}' for k, v in os.environ.items()).encode()
env_leaks = [k for k in os.environ if k.startswith(('SPINDLE', 'KRUXIA'))] + hits(environment)

# A setsid child, a double-forked daemon and a plain fork child, all sleeping: none may outlive the script.
subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', mark], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def sleeper():
    try:
        ctypes.CDLL(None).prctl(15, mark.encode(), 0, 0, 0)
        time.sleep(300)
    finally:
        os._exit(0)
first = os.fork()
if first == 0:
    try:
        os.setsid()
        if os.fork() == 0:
            sleeper()
    finally:
        os._exit(0)
os.waitpid(first, 0)
if os.fork() == 0:
    sleeper()

OUTPUT = {'leaks': leaks, 'reads': reads, 'env_leaks': env_leaks, 'uid': os.getuid(),
          'sees_processes': len([p for p in os.listdir('/proc') if p.isdigit()])}
"""

SPAWN_AND_HANG = (
    MARK_PROCESS
    + "import subprocess, sys\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', INPUT['marker']], start_new_session=True)\n"
    "if os.fork() == 0:\n"
    "    time.sleep(300)\n"
    "    os._exit(0)\n"
    "time.sleep(300)\n"
)


def step(key: str, routing: str, script: str, inputs: Any = None, **extra: Any) -> dict[str, Any]:
    return {
        "key": key,
        "worker": routing,
        "activity_name": "script",
        "parameters": {"script": script, "inputs": inputs or {}},
        **extra,
    }


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpindleServer]:
    """A secured server that also starts one py-std worker itself, with a secret-looking canary in its environment."""
    server = SpindleServer(
        data_dir=tmp_path_factory.mktemp("isolation-data"),
        insecure=False,
        extra_args=["--python-workers", "1"],
        extra_env={"SPINDLE_SECRET_ISOLATION_CANARY": CANARY},
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def admin(secured: SpindleServer) -> Iterator[SpindleClient]:
    client_id, secret = secured.admin_credentials()
    with SpindleClient(secured.url, client_id=client_id, client_secret=secret) as c:
        yield c


def worker_credentials(admin: SpindleClient) -> tuple[str, str]:
    return create_client(admin, unique("iso"), ["worker"])


def secret_paths(server: SpindleServer) -> list[str]:
    data = server.data_dir
    paths = [str(data), str(data / "signing-key.pem"), str(data / "admin-credentials.json"), str(data / "spindle.db")]
    for path in paths:
        assert Path(path).exists(), f"{path} should exist for the probe to be meaningful"
    return paths


def hand_started(server: SpindleServer, admin: SpindleClient, tmp_path: Path, **env: str) -> tuple[PyStdProcess, str, str]:
    client_id, secret = worker_credentials(admin)
    routing = unique("py-iso")
    worker = PyStdProcess(
        server.url,
        tmp_path / "py-std.log",
        SPINDLE_WORKER=routing,
        SPINDLE_CLIENT_ID=client_id,
        SPINDLE_CLIENT_SECRET=secret,
        SPINDLE_PY_STD_WARM_PROCESSES="1",
        **env,
    ).start()
    return worker, routing, secret


def run_probe(admin: SpindleClient, server: SpindleServer, routing: str, secret: str) -> dict[str, Any]:
    mark = marker()
    name = unique("probe")
    inputs = {"canaries": [CANARY, secret, str(server.data_dir)], "paths": secret_paths(server), "marker": mark}
    admin.deploy({"name": name, "activities": [step("probe", routing, PROBE, inputs)]})
    wf = admin.run(name, timeout=90)
    assert wf.status == "completed", wf.error_message
    # Whatever the script started is gone once it finished: the setsid child, the daemon and the fork child.
    wait_until(lambda: not marked_processes(mark), 10, what="the script's children to be killed")
    return wf.output("probe")


def assert_contained(result: dict[str, Any], server: SpindleServer) -> None:
    assert result["leaks"] == []
    assert result["env_leaks"] == []
    assert result["uid"] != 0
    for path, outcome in result["reads"].items():
        assert outcome in ("FileNotFoundError", "PermissionError"), f"the script could access {path}: {outcome}"
    # Its own PID namespace: the interpreter, bwrap's init and what the probe started; not the host's processes.
    assert result["sees_processes"] < 10


def test_script_under_python_workers_cannot_reach_server_secrets_or_data(secured: SpindleServer, admin: SpindleClient) -> None:
    result = run_probe(admin, secured, "py-std", _python_worker_secret(secured))
    assert_contained(result, secured)


def test_script_cannot_make_the_worker_upload_files_outside_its_directory(secured: SpindleServer, admin: SpindleClient) -> None:
    script = (
        "import os\n"
        "os.symlink(INPUT['key'], 'innocent.txt')\n"
        "refused = {}\n"
        "for path in (INPUT['key'], '../../' + INPUT['key'], 'innocent.txt'):\n"
        "    try:\n"
        "        await ctx.upload_file(path)\n"
        "        refused[path] = False\n"
        "    except RuntimeError as exc:\n"
        "        refused[path] = 'outside the script' in str(exc)\n"
        "OUTPUT = refused\n"
    )
    key = str(secured.data_dir / "signing-key.pem")
    name = unique("upload")
    admin.deploy({"name": name, "activities": [step("up", "py-std", script, {"key": key})]})
    wf = admin.run(name, timeout=60)
    assert wf.status == "completed", wf.error_message
    assert wf.output("up") == {key: True, "../../" + key: True, "innocent.txt": True}


def _python_worker_secret(server: SpindleServer) -> str:
    """The client secret the server gave its py-std worker, read from that worker's environment (the test is root)."""
    assert server.process is not None
    # The server starts its worker after it answers, so a test that runs first may look before the worker exists.
    workers = wait_until(lambda: _children(server.process.pid), 30, what="the server's py-std worker")
    for pid in workers:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        for entry in environ:
            if entry.startswith(b"SPINDLE_CLIENT_SECRET="):
                return entry.split(b"=", 1)[1].decode()
    raise AssertionError("the server's py-std worker has no SPINDLE_CLIENT_SECRET")


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(") ", 1)[1].split()[1]) == pid and b"spindle.py_std" in cmdline:
                found.append(int(entry))
    return found


def test_python_workers_run_unprivileged_with_an_allow_listed_environment(secured: SpindleServer) -> None:
    assert secured.process is not None
    workers = wait_until(lambda: _children(secured.process.pid), 30, what="the server's py-std worker")
    for pid in workers:
        status = Path(f"/proc/{pid}/status").read_text()
        uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        names = sorted(e.split(b"=", 1)[0].decode() for e in environ.split(b"\0") if e)
        assert CANARY.encode() not in environ and str(secured.data_dir).encode() not in environ
        assert not [n for n in names if n.startswith("SPINDLE_SECRET")]
        if os.geteuid() == 0:
            assert uid != 0
            # As that user, the worker reads neither the server's environment nor the data directory.
            for path in [f"/proc/{secured.process.pid}/environ", *secret_paths(secured)[1:]]:
                denied = subprocess.run(
                    ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "cat", path],
                    capture_output=True,
                )
                assert denied.returncode != 0, f"the worker's user can read {path}"


def test_script_under_a_hand_started_worker_cannot_reach_its_credentials(
    secured: SpindleServer, admin: SpindleClient, tmp_path: Path
) -> None:
    worker, routing, secret = hand_started(secured, admin, tmp_path, SPINDLE_SECRET_ISOLATION_CANARY=CANARY)
    try:
        assert "isolation bwrap" in worker.log() or "isolation is reduced" in worker.log()
        result = run_probe(admin, secured, routing, secret)
    finally:
        assert worker.stop() == 0
    assert_contained(result, secured)


@pytest.mark.skipif(os.geteuid() != 0, reason="without bwrap, only a root worker can give scripts a user of their own")
def test_without_bwrap_scripts_run_as_nobody_without_credentials_and_leave_nothing(
    secured: SpindleServer, admin: SpindleClient, tmp_path: Path
) -> None:
    worker, routing, secret = hand_started(
        secured, admin, tmp_path, SPINDLE_PY_STD_ISOLATION="none", SPINDLE_SECRET_ISOLATION_CANARY=CANARY
    )
    try:
        assert "script isolation is off" in worker.log()
        result = run_probe(admin, secured, routing, secret)
    finally:
        assert worker.stop() == 0
    # Reduced isolation: the host's processes are visible (and their command lines, so the data directory's path),
    # but not their environments, nor the data directory's files; the script is not root and has no credentials.
    assert [leak for leak in result["leaks"] if "environ" in leak[0]] == []
    assert result["env_leaks"] == []
    assert result["uid"] != 0
    for path, outcome in result["reads"].items():
        assert outcome in ("FileNotFoundError", "PermissionError"), f"the script could access {path}: {outcome}"


def test_endless_allocation_fails_with_memory_limit_and_the_worker_lives_on(
    secured: SpindleServer, admin: SpindleClient, tmp_path: Path
) -> None:
    worker, routing, _ = hand_started(secured, admin, tmp_path, SPINDLE_PY_STD_MEMORY_MB="1024")
    try:
        hog = "blocks = []\nwhile True:\n    blocks.append(bytearray(64 * 1024 * 1024))"
        small = "OUTPUT = len(bytearray(600 * 1024 * 1024))"
        runs = {}
        for key, settings in (("hog", {}), ("capped", {"memory_mb": 256}), ("fits", {})):
            name = unique(key)
            # 600 MiB fit in the worker's 1024, not in an activity's own 256.
            script = hog if key == "hog" else small
            admin.deploy({"name": name, "activities": [step(key, routing, script, settings={**settings, "retry": {"max_attempts": 2}})]})
            runs[key] = admin.run(name, timeout=90).activity(key)
        assert (runs["hog"].status, runs["hog"].error_code, runs["hog"].attempt) == ("failed", "MEMORY_LIMIT_EXCEEDED", 1)
        assert "limit 1024 MiB" in (runs["hog"].error_message or "")
        assert (runs["capped"].error_code, runs["capped"].attempt) == ("MEMORY_LIMIT_EXCEEDED", 1)
        assert "limit 256 MiB" in (runs["capped"].error_message or "")
        assert runs["fits"].status == "completed" and runs["fits"].outputs == {"result": 600 * 1024 * 1024}
        assert worker.process is not None and worker.process.poll() is None
    finally:
        assert worker.stop() == 0


def test_script_children_are_killed_at_timeout_and_at_worker_shutdown(
    secured: SpindleServer, admin: SpindleClient, tmp_path: Path
) -> None:
    worker, routing, _ = hand_started(secured, admin, tmp_path, SPINDLE_WORKER_SHUTDOWN_TIMEOUT="0.5")
    try:
        timed = marker()
        name = unique("timeout")
        admin.deploy(
            {
                "name": name,
                "activities": [
                    step("hang", routing, SPAWN_AND_HANG, {"marker": timed}, settings={"timeout_seconds": 2, "retry": {"max_attempts": 1}})
                ],
            }
        )
        wf = admin.run(name, timeout=60)
        assert wf.activity("hang").error_code == "TIMEOUT"
        wait_until(lambda: not marked_processes(timed), 10, what="the timed-out script and its children to be gone")

        stopped = marker()
        name = unique("shutdown")
        admin.deploy({"name": name, "activities": [step("hang", routing, SPAWN_AND_HANG, {"marker": stopped})]})
        wid = admin.submit(name).workflow_id
        # The interpreter, the setsid child and the fork child.
        wait_until(lambda: len(marked_processes(stopped)) >= 3, 30, what="the script and its children")
        worker.signal(signal.SIGTERM)
        assert worker.wait_exit(timeout=30) == 0
        wait_until(lambda: not marked_processes(stopped), 10, what="every process of the script to be gone")
        admin.cancel(wid, reason="test cleanup")
    finally:
        worker.stop()


def test_sixty_megabyte_output_fails_fast_with_output_too_large(
    secured: SpindleServer, admin: SpindleClient, tmp_path: Path
) -> None:
    worker, routing, _ = hand_started(secured, admin, tmp_path)
    try:
        assert worker.process is not None
        before = _rss_mb(worker.process.pid)
        name = unique("big")
        admin.deploy(
            {
                "name": name,
                "activities": [
                    step("big", routing, "OUTPUT = 'x' * (60 * 1024 * 1024)", settings={"retry": {"max_attempts": 3}})
                ],
            }
        )
        started = time.monotonic()
        wf = admin.run(name, timeout=60)
        took = time.monotonic() - started
        big = wf.activity("big")
        assert (big.status, big.error_code, big.attempt) == ("failed", "OUTPUT_TOO_LARGE", 1)
        assert "MiB" in (big.error_message or "")
        assert took < 20
        # The 60 MiB never reached the worker (the script process checks the size before it sends its result).
        assert _rss_mb(worker.process.pid) < before + 50
    finally:
        assert worker.stop() == 0


def test_sdk_worker_reports_an_oversized_result_as_output_too_large_without_retrying(
    secured: SpindleServer, admin: SpindleClient
) -> None:
    client_id, secret = worker_credentials(admin)
    routing = unique("big-sdk")
    worker = Worker(config=WorkerConfig(api_url=secured.url, worker=routing, client_id=client_id, client_secret=secret))

    @worker.activity("huge")
    async def huge(params: dict[str, Any]) -> dict[str, Any]:
        return {"blob": "y" * (60 * 1024 * 1024)}

    name = unique("big-sdk")
    admin.deploy(
        {
            "name": name,
            "activities": [
                {"key": "h", "worker": routing, "activity_name": "huge", "settings": {"retry": {"max_attempts": 3}}}
            ],
        }
    )
    with WorkerThread(worker):
        started = time.monotonic()
        wf = admin.run(name, timeout=60)
        took = time.monotonic() - started
        stats = worker.stats
    step_ = wf.activity("h")
    assert (step_.status, step_.error_code, step_.attempt) == ("failed", "OUTPUT_TOO_LARGE", 1)
    assert "over the server's limit" in (step_.error_message or "")
    assert (stats.failed, stats.completed) == (1, 0)
    assert took < 20


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")
