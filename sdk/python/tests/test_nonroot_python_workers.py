"""``spindle serve --python-workers`` run by an ordinary user: the workers share that user, so a bubblewrap sandbox
(own PID namespace and /proc, data directory hidden) and a non-dumpable server are what keep a worker, and the
scripts it runs, away from the server's environment and data directory.

The server runs as ``nobody`` when the tests run as root (as on CI), else as the tests' own user. Two servers: one
whose worker sandboxes scripts itself (the default), and one whose worker runs scripts without a sandbox of its own
(``SPINDLE_PY_STD_ISOLATION=none``), so that the probing script sees exactly what the worker process sees."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from spindle import SpindleClient
from support import PYTHON, REPO_ROOT, SRC, free_port, unique

#: In the server's environment only.
CANARY = "canary-" + uuid.uuid4().hex
BWRAP = "/usr/bin/bwrap"
AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all"]

pytestmark = pytest.mark.skipif(not Path(BWRAP).exists(), reason="bubblewrap (Debian package bubblewrap) is not installed")

PROBE = r"""
import glob, os

canaries = [c.encode() for c in INPUT['canaries']]
leaks = []
for path in glob.glob('/proc/*/environ') + glob.glob('/proc/*/cmdline'):
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError:
        continue
    found = [c.decode() for c in canaries if c in data]
    if found:
        leaks.append([path, found])

server_visible = []
for path in glob.glob('/proc/*/cmdline'):
    try:
        with open(path, 'rb') as f:
            if b'spindle.dll' in f.read():
                server_visible.append(path)
    except OSError:
        pass

reads = {}
for path in INPUT['paths']:
    try:
        if os.path.isdir(path):
            reads[path] = 'listed %d' % len(os.listdir(path))
        else:
            with open(path, 'rb') as f:
                f.read(1)
            reads[path] = 'read'
    except OSError as exc:
        reads[path] = type(exc).__name__

OUTPUT = {'leaks': leaks, 'server_visible': server_visible, 'reads': reads, 'uid': os.getuid(),
          'env': sorted(k for k in os.environ if k.startswith(('SPINDLE', 'KRUXIA')))}
"""


def _as_server_user(command: list[str]) -> list[str]:
    return AS_NOBODY + command if os.geteuid() == 0 else command


def _usable(paths: list[Path]) -> bool:
    """Whether the server's user can read these files (the CLI build and the SDK live in the repository)."""
    done = subprocess.run(_as_server_user(["sh", "-c", " && ".join(f"test -r '{p}'" for p in paths)]), capture_output=True)
    return done.returncode == 0


@dataclass
class NonRootServer:
    base: Path
    data_dir: Path
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    signing_key: Path

    def admin(self) -> SpindleClient:
        credentials = json.loads((self.data_dir / "admin-credentials.json").read_text())
        return SpindleClient(self.url, client_id=credentials["client_id"], client_secret=credentials["client_secret"])

    def worker_pid(self) -> int:
        """The py-std worker's interpreter (below bwrap), found by its command line and its ancestry."""
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[:3] == [PYTHON.encode(), b"-m", b"spindle.py_std"] and self.process.pid in _ancestors(int(entry)):
                return int(entry)
        raise AssertionError("the server's py-std worker was not found")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _ancestors(pid: int) -> list[int]:
    found = []
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
        found.append(pid)
    return found


def _start(isolation: str, key_outside: bool) -> NonRootServer:
    # ./spindle builds the CLI when its sources changed (as the tests' user); the server then runs it directly.
    subprocess.run(["./spindle", "--help"], cwd=REPO_ROOT, check=True, capture_output=True, timeout=900)
    # Under /var/tmp, not /tmp: the worker gets a private /tmp, so only the sandbox's own hiding keeps it from a
    # data directory there.
    base = Path(tempfile.mkdtemp(prefix="spindle-nonroot-", dir="/var/tmp" if Path("/var/tmp").is_dir() else None))
    base.chmod(0o755)
    cli, sdk = REPO_ROOT / ".build" / "cli", SRC
    if not _usable([cli / "spindle.dll", sdk / "spindle" / "__init__.py"]):
        # The repository is private to the tests' user: a readable copy.
        cli, sdk = base / "cli", base / "sdk"
        shutil.copytree(REPO_ROOT / ".build" / "cli", cli)
        shutil.copytree(SRC, sdk, ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run(["chmod", "-R", "a+rX", str(cli), str(sdk)], check=True)
    data_dir, home, keys = base / "data", base / "home", base / "keys"
    signing_key = (keys if key_outside else data_dir) / "signing-key.pem"
    for path in (data_dir, home, keys):
        path.mkdir(mode=0o700)
        if os.geteuid() == 0:
            shutil.chown(path, "nobody", "nogroup")
    probe = subprocess.run(_as_server_user([BWRAP, "--unshare-user", "--unshare-pid", "--ro-bind", "/", "/", "--proc", "/proc", "true"]), capture_output=True)
    if probe.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"bwrap does not work for an unprivileged user here: {probe.stderr.decode(errors='replace').strip()}")
    port = free_port()
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "DOTNET_CLI_TELEMETRY_OPTOUT": "1",
        "SPINDLE_PYTHON_SDK": str(sdk),
        "SPINDLE_PY_STD_ISOLATION": isolation,
        "SPINDLE_SECRET_ISOLATION_CANARY": CANARY,
    }
    log = base / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            _as_server_user(["dotnet", str(cli / "spindle.dll"), "serve", "--port", str(port), "--data-dir", str(data_dir), "--python-workers", "1", "--signing-key", str(signing_key)]),
            cwd=base,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = NonRootServer(base, data_dir, f"http://127.0.0.1:{port}", process, log, signing_key)
    deadline = time.monotonic() + 120
    while True:
        try:
            if "serving 'py-std'" in log.read_text(errors="replace") and httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            tail = log.read_text(errors="replace")[-4000:]
            shutil.rmtree(base, ignore_errors=True)
            raise AssertionError(f"the non-root server or its py-std worker did not start:\n{tail}")
        time.sleep(0.3)


#: The worker's own script sandbox, with the key in the data directory; and the worker's own view (no script sandbox),
#: with the key kept elsewhere (--signing-key).
@pytest.fixture(scope="module", params=[("auto", False), ("none", True)], ids=["scripts-sandboxed", "worker-view"])
def server(request: pytest.FixtureRequest) -> Iterator[NonRootServer]:
    started = _start(*request.param)
    try:
        yield started
    finally:
        started.stop()
        pid = started.process.pid
        leftovers = [p for p in Path("/tmp").glob(f"spindle-py-worker-{pid}-*")]
        shutil.rmtree(started.base, ignore_errors=True)
        # A stopped server leaves no worker's private /tmp behind.
        assert leftovers == []


def _uid_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


def test_server_logs_the_sandbox_and_runs_as_an_ordinary_user(server: NonRootServer) -> None:
    log = server.log.read_text(errors="replace")
    assert "py-std workers run in a bubblewrap sandbox" in log
    assert "without a sandbox" not in log
    assert _uid_of(server.process.pid) != 0


def test_server_process_is_non_dumpable(server: NonRootServer) -> None:
    pid = server.process.pid
    # The kernel hands a non-dumpable process's /proc files to root: its own user cannot read its environment.
    assert os.stat(f"/proc/{pid}/environ").st_uid == 0
    denied = subprocess.run(_as_server_user(["cat", f"/proc/{pid}/environ"]), capture_output=True)
    assert denied.returncode != 0 and CANARY.encode() not in denied.stdout
    assert "Process marked non-dumpable" in server.log.read_text(errors="replace")


def test_worker_has_its_own_pid_namespace_and_no_data_directory(server: NonRootServer) -> None:
    worker = server.worker_pid()
    assert _uid_of(worker) == _uid_of(server.process.pid)
    assert os.readlink(f"/proc/{worker}/ns/pid") != os.readlink(f"/proc/{server.process.pid}/ns/pid")
    # What the worker sees, through its root directory: a /proc without the server, an empty data directory.
    view = Path(f"/proc/{worker}/root")
    theirs = [p for p in (view / "proc").iterdir() if p.name.isdigit()]
    assert theirs and len(theirs) < 50
    assert not [p for p in theirs if b"spindle.dll" in _read(p / "cmdline")]
    hidden = view / str(server.data_dir).lstrip("/")
    assert hidden.is_dir() and list(hidden.iterdir()) == []
    assert (server.data_dir / "spindle.db").exists() and not (hidden / "spindle.db").exists()
    assert server.signing_key.stat().st_size > 0
    seen_key = view / str(server.signing_key).lstrip("/")
    if server.signing_key.parent == server.data_dir:
        assert not seen_key.exists()
    else:
        # Kept elsewhere (--signing-key): /dev/null in its place.
        assert stat.S_ISCHR(seen_key.stat().st_mode)
    environ = Path(f"/proc/{worker}/environ").read_bytes()
    assert CANARY.encode() not in environ and b"SPINDLE_SECRET" not in environ


def test_script_reads_neither_the_servers_environment_nor_its_data(server: NonRootServer) -> None:
    worker = server.worker_pid()
    worker_secret = next(
        e.split(b"=", 1)[1].decode() for e in Path(f"/proc/{worker}/environ").read_bytes().split(b"\0") if e.startswith(b"SPINDLE_CLIENT_SECRET=")
    )
    sandboxed = "isolation bwrap" in server.log.read_text(errors="replace")
    data = server.data_dir
    paths = [str(data), str(server.signing_key), str(data / "admin-credentials.json"), str(data / "spindle.db")]
    paths.append(f"/proc/{server.process.pid}/environ")
    # Without a sandbox of its own the script shares the worker's user and namespaces, so the worker's credential
    # and the command line of its bwrap (which names the hidden data directory) are within its reach: the reduced
    # mode's documented limit. The server's secrets never are.
    canaries = [CANARY] + ([worker_secret, str(data)] if sandboxed else [])
    name = unique("nonroot")
    with server.admin() as admin:
        admin.deploy(
            {
                "name": name,
                "activities": [
                    {"key": "probe", "worker": "py-std", "activity_name": "script", "parameters": {"script": PROBE, "inputs": {"canaries": canaries, "paths": paths}}}
                ],
            }
        )
        wf = admin.run(name, timeout=90)
        assert wf.status == "completed", wf.error_message
        result: dict[str, Any] = wf.output("probe")
    assert result["leaks"] == []
    assert result["server_visible"] == []
    assert result["env"] == []
    assert result["uid"] != 0
    for path, outcome in result["reads"].items():
        assert outcome in ("FileNotFoundError", "PermissionError"), f"the script could access {path}: {outcome}"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""
