"""What a warm script process keeps between runs to be cheap (compiled scripts, the sandbox's mounts), and that none
of it leaks from one script into the next."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from spindle.py_std._script_output import _State
from spindle.py_std.child import ScriptRunner, _mounts_below
from spindle.py_std.sandbox import Limits, resolve_sandbox
from pool_harness import PoolHarness, ok


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PoolHarness]:
    # One process, so that every run of a test lands in the same interpreter and its caches.
    h = PoolHarness(str(tmp_path_factory.mktemp("reuse")), warm=1, max_processes=1)
    try:
        yield h
    finally:
        h.close()


def test_a_changed_script_is_compiled_anew_not_served_from_the_cache(harness: PoolHarness) -> None:
    first, pid = harness.run("OUTPUT = INPUT['v']", {"v": 1})
    changed, same_pid = harness.run("OUTPUT = INPUT['v'] * 10", {"v": 1})
    again, last_pid = harness.run("OUTPUT = INPUT['v']", {"v": 2})
    assert [ok(first), ok(changed), ok(again)] == [1, 10, 2]
    assert pid == same_pid == last_pid


def test_a_cached_script_fails_with_its_own_lines_after_another_script_ran(harness: PoolHarness) -> None:
    first = "x = 1\nraise ValueError('from the first')"
    harness.run(first)
    harness.run("y = 2\nraise KeyError('from the second')")
    reply, _ = harness.run(first)
    assert reply["code"] == "SCRIPT_ERROR"
    assert "raise ValueError('from the first')" in reply["message"]
    assert "KeyError" not in reply["message"]


def test_a_script_that_edits_its_traceback_lines_does_not_change_the_next_runs(harness: PoolHarness) -> None:
    script = (
        "import linecache\n"
        "if INPUT.get('tamper'): linecache.cache['<script>'][2][2] = 'tampered\\n'\n"
        "raise ValueError('real')"
    )
    tampered, _ = harness.run(script, {"tamper": True})
    assert "tampered" in tampered["message"]
    reply, _ = harness.run(script, {})
    assert "raise ValueError('real')" in reply["message"]
    assert "tampered" not in reply["message"]


def test_mounts_below_finds_mount_points_and_the_directories_holding_them(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "21 1 0:20 / / rw - tmpfs tmpfs rw\n"
        "22 21 0:21 / /tmp rw - tmpfs tmpfs rw\n"
        "23 22 8:1 /src /tmp/work/sdk ro - ext4 /dev/sda1 ro\n"
        "24 22 8:1 /py /tmp/a\\040b/python ro - ext4 /dev/sda1 ro\n"
        "25 21 0:22 / /proc rw - proc proc rw\n"
        "26 21 8:1 /x /tmpfoo/y ro - ext4 /dev/sda1 ro\n"
    )
    mounts, holders = _mounts_below("/tmp", str(mountinfo))
    assert mounts == {"/tmp/work/sdk", "/tmp/a b/python"}
    assert holders == {"/tmp/work", "/tmp/a b"}
    assert _mounts_below("/tmp", str(tmp_path / "missing")) == (frozenset(), frozenset())


def test_tidying_skips_binds_and_clears_what_a_script_left_beside_them(tmp_path: Path) -> None:
    root = tmp_path / "tmp"
    bind = root / "work" / "sdk"
    (bind / "pkg").mkdir(parents=True)
    (bind / "pkg" / "module.py").write_text("x = 1\n")
    (root / "work" / "left.txt").write_text("a script's file next to the bind")
    (root / "work" / "dir").mkdir()
    (root / "junk" / "deep").mkdir(parents=True)
    (root / "file.txt").write_text("left at the top")
    (root / "kept").mkdir()
    runner = ScriptRunner(None, _State(), str(tmp_path), {}, False)  # type: ignore[arg-type]
    runner.mounts = frozenset({str(bind)})
    runner.mount_holders = frozenset({str(root / "work")})
    runner._tidy_dir(str(root), {str(root / "kept")})
    assert sorted(p.name for p in root.iterdir()) == ["kept", "work"]
    assert sorted(p.name for p in (root / "work").iterdir()) == ["sdk"]
    assert (bind / "pkg" / "module.py").read_text() == "x = 1\n"


def _bwrap_works() -> bool:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False
    probe = subprocess.run([bwrap, "--unshare-user", "--unshare-pid", "--ro-bind", "/", "/", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _bwrap_works(), reason="bubblewrap does not work here")
def test_in_the_sandbox_a_file_left_beside_a_read_only_bind_below_tmp_is_gone_for_the_next_script() -> None:
    # An SDK checked out below /tmp is bound read-only at the same path inside the sandbox's own /tmp. Not below
    # pytest's tmp_path: a root worker's sandbox runs as nobody, who must reach both directories.
    shared = Path(tempfile.mkdtemp(prefix="spindle-reuse-"))
    readonly = shared / "checkout" / "data"
    readonly.mkdir(parents=True)
    try:
        (readonly / "file.txt").write_text("read-only")
        for path in (shared, shared / "checkout", readonly):
            path.chmod(0o755)
        (readonly / "file.txt").chmod(0o644)
        scratch = shared / "scratch"
        scratch.mkdir()
        scratch.chmod(0o711)
        sandbox = resolve_sandbox("bwrap", scratch=str(scratch), python="/usr/bin/python3", limits=Limits())
        sandbox.read_only = (*sandbox.read_only, str(readonly))
        h = PoolHarness(str(scratch), warm=1, max_processes=1, sandbox=sandbox)
        try:
            leave = (
                "import os\n"
                f"holder = {str(readonly.parent)!r}\n"
                "open(os.path.join(holder, 'left.txt'), 'w').write('x')\n"
                "open('/tmp/top.txt', 'w').write('x')\n"
                "OUTPUT = sorted(os.listdir(holder))"
            )
            look = (
                "import os\n"
                f"holder = {str(readonly.parent)!r}\n"
                f"OUTPUT = [sorted(os.listdir(holder)), os.path.exists('/tmp/top.txt'), open({str(readonly / 'file.txt')!r}).read()]"
            )
            first, pid = h.run(leave)
            second, same_pid = h.run(look)
        finally:
            h.close()
        assert ok(first) == ["data", "left.txt"]
        assert ok(second) == [["data"], False, "read-only"]
        assert pid == same_pid
    finally:
        shutil.rmtree(shared, ignore_errors=True)

