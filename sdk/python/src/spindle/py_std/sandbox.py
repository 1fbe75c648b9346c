"""Isolation of script interpreters from the worker and the machine (security model of the py-std worker).

A script is untrusted code. It must not see the worker's credentials, the server's environment, data directory,
signing key or database, nor another script's files, and nothing it starts may outlive it. Two modes:

* ``bwrap`` (Debian's ``bubblewrap``): each warm interpreter runs in its own user, PID, IPC and mount namespaces
  with a read-only view of the system directories and the SDK, its own ``/proc`` (it cannot see the worker or the
  server), ``/dev`` and ``/tmp``, and a private home directory. The sandbox is started once per interpreter, so a
  script pays nothing for it. After each script the interpreter kills every other process in its namespace.
* ``none``: the same interpreter without namespaces: its own session, a child subreaper that finds and kills what a
  script left behind, rlimits and the environment allow-list. The worker logs a warning: scripts can then read
  whatever the worker's user can.

In both modes a worker running as root starts the interpreters as ``nobody``: scripts are never root.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import _env

__all__ = [
    "Limits",
    "Sandbox",
    "ISOLATION_MODES",
    "child_environment",
    "package_root",
    "resolve_sandbox",
]

log = logging.getLogger("spindle.py_std")

ISOLATION_MODES = ("auto", "bwrap", "none")

#: Where the interpreter's home directory appears inside the sandbox.
INNER_HOME = "/home/script"

#: Environment variables a script may see (exact names), besides those starting with one of _ALLOWED_PREFIXES.
_ALLOWED_NAMES = frozenset({"PATH", "LANG", "LANGUAGE", "TZ", "PYTHONHASHSEED", "PYTHONIOENCODING", "SSL_CERT_FILE", "SSL_CERT_DIR"})
_ALLOWED_PREFIXES = ("LC_", "OPENBLAS_", "OMP_", "MKL_", "NUMEXPR_", "VECLIB_")
_DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def package_root() -> str:
    """The directory that contains the ``spindle`` package (what the interpreter needs on its import path)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def child_environment(base: Mapping[str, str] | None = None, *, home: str | None = None) -> dict[str, str]:
    """A script interpreter's environment, built from an allow-list of the worker's (``base``, default
    ``os.environ``): locale, time zone, PATH and thread settings of numeric libraries; never ``SPINDLE_*``,
    ``KRUXIAFLOW_*`` or anything else the worker holds. ``PYTHONPATH`` is this package's directory only."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if k in _ALLOWED_NAMES or k.startswith(_ALLOWED_PREFIXES)}
    env.setdefault("PATH", _DEFAULT_PATH)
    env["PYTHONPATH"] = package_root()
    env["PYTHONUNBUFFERED"] = "1"
    if home is not None:
        env["HOME"] = home
    return env


@dataclass(frozen=True)
class Limits:
    """Per-script resource limits, applied in the interpreter with ``setrlimit``.

    ``memory_mb`` caps the address space (an activity's ``settings.memory_mb`` may lower it for one script, never
    raise it); ``max_processes`` the processes and threads (enforced for an unprivileged sandbox user only);
    ``file_size_mb`` the size of any file written; ``cpu_seconds`` the CPU time of one script."""

    memory_mb: int = 2048
    max_processes: int = 256
    file_size_mb: int = 1024
    cpu_seconds: int = 3600

    @classmethod
    def from_env(cls, **overrides: int | None) -> Limits:
        values: dict[str, int] = {}
        for name, env_name in (
            ("memory_mb", "PY_STD_MEMORY_MB"),
            ("max_processes", "PY_STD_MAX_SCRIPT_PROCESSES"),
            ("file_size_mb", "PY_STD_FILE_SIZE_MB"),
            ("cpu_seconds", "PY_STD_CPU_SECONDS"),
        ):
            value = overrides.get(name)
            if value is None:
                value = _env.read_int(env_name)
            if value is not None:
                if value < 1:
                    raise ValueError(f"{name} must be at least 1, got {value}")
                values[name] = value
        return cls(**values)

    def to_json(self) -> dict[str, int]:
        return {
            "memory_mb": self.memory_mb,
            "max_processes": self.max_processes,
            "file_size_mb": self.file_size_mb,
            "cpu_seconds": self.cpu_seconds,
        }


def _unprivileged_ids() -> tuple[int, int] | None:
    """``nobody``/``nogroup`` when the worker runs as root, else None (the interpreter keeps the worker's user)."""
    if os.geteuid() != 0:
        return None
    import grp
    import pwd

    try:
        uid = pwd.getpwnam("nobody").pw_uid
    except KeyError:
        uid = 65534
    gid = 65534
    for name in ("nogroup", "nobody"):
        with contextlib.suppress(KeyError):
            gid = grp.getgrnam(name).gr_gid
            break
    return uid, gid


@dataclass
class Sandbox:
    """How script interpreters are started: the command around ``python -m spindle.py_std.child`` and the
    user it runs as."""

    mode: str = "none"
    bwrap: str | None = None
    limits: Limits = field(default_factory=Limits)
    #: (uid, gid) the interpreters run as, or None for the worker's own.
    ids: tuple[int, int] | None = None
    python: str = sys.executable
    #: Directories the interpreter reads besides the system ones (its Python installation, this package).
    read_only: tuple[str, ...] = ()

    @property
    def isolated(self) -> bool:
        return self.mode == "bwrap"

    def inner_home(self, host_home: str) -> str:
        return INNER_HOME if self.isolated else host_home

    def prepare_home(self, path: str) -> None:
        """Makes an interpreter's home directory, owned by the user it runs as."""
        os.makedirs(path, mode=0o700, exist_ok=True)
        if self.ids is not None:
            os.chown(path, *self.ids)

    def command(self, host_home: str, extra: list[str]) -> list[str]:
        child = [self.python, "-s", "-m", "spindle.py_std.child", *extra]
        if not self.isolated:
            return child
        assert self.bwrap is not None
        args = [
            self.bwrap,
            "--unshare-user",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--die-with-parent",
            "--new-session",
            "--ro-bind",
            "/usr",
            "/usr",
            "--ro-bind",
            "/etc",
            "/etc",
        ]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                args += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                args += ["--ro-bind", top, top]
        # /tmp first: a read-only path below it (an SDK in a checkout under /tmp) is bound on top, not hidden by it.
        args += ["--tmpfs", "/tmp"]
        for path in self.read_only:
            args += ["--ro-bind", path, path]
        args += [
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--bind",
            host_home,
            INNER_HOME,
            "--chdir",
            INNER_HOME,
            "--",
        ]
        return args + child

    def popen_options(self) -> dict[str, Any]:
        if self.ids is None:
            return {}
        uid, gid = self.ids
        return {"user": uid, "group": gid, "extra_groups": []}

    def describe(self) -> str:
        who = f"uid {self.ids[0]}" if self.ids else f"the worker's user (uid {os.geteuid()})"
        limits = self.limits
        return (
            f"isolation {self.mode}, scripts run as {who}; per script: {limits.memory_mb} MiB address space, "
            f"{limits.max_processes} processes, {limits.file_size_mb} MiB files, {limits.cpu_seconds} s CPU"
        )


def _read_only_paths(python: str) -> tuple[str, ...]:
    """The Python installation (when outside /usr) and this package's directory."""
    paths: list[str] = []
    candidates = [package_root()]
    real = os.path.realpath(python)
    if not real.startswith("/usr/"):
        # A Python outside /usr (pyenv, a venv): its prefix, found from the interpreter's location.
        candidates.append(os.path.dirname(os.path.dirname(real)))
        candidates.append(os.path.dirname(os.path.dirname(os.path.abspath(python))))
    for path in candidates:
        path = os.path.realpath(path)
        if path.startswith(("/usr/", "/etc/")) or path in paths or not os.path.isdir(path):
            continue
        paths.append(path)
    return tuple(paths)


def _probe(sandbox: Sandbox, scratch: str) -> str | None:
    """Starts the sandbox once with the interpreter importing the child module; the error text, or None."""
    home = os.path.join(scratch, "probe")
    try:
        sandbox.prepare_home(home)
        command = sandbox.command(home, [])
        # Only import the module (the child would wait for runs): "-c" in place of "-m … child".
        command = command[: -3] + ["-c", "import spindle.py_std.child"]
        done = subprocess.run(
            command,
            env=child_environment(home=sandbox.inner_home(home)),
            cwd=home,
            capture_output=True,
            timeout=30,
            **sandbox.popen_options(),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if done.returncode != 0:
        return (done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}")[-500:]
    return None


def _check_unprivileged(sandbox: Sandbox, scratch: str) -> None:
    """A root worker runs scripts as nobody, never as root: if nobody cannot run the interpreter (a Python or SDK
    under /root, say), the worker refuses to start rather than run scripts with its privileges."""
    if sandbox.ids is None:
        return
    problem = _probe(sandbox, scratch)
    if problem is not None:
        raise RuntimeError(
            f"the worker runs as root, so scripts run as uid {sandbox.ids[0]}, which cannot start {sandbox.python} "
            f"with the SDK at {package_root()}: {problem}. Make both readable by others, or run the worker as an "
            "ordinary user"
        )


def resolve_sandbox(mode: str | None, *, scratch: str, python: str | None = None, limits: Limits | None = None) -> Sandbox:
    """The sandbox for ``mode`` (``auto``, ``bwrap`` or ``none``; default ``SPINDLE_PY_STD_ISOLATION``, else
    ``auto``). ``auto`` uses bubblewrap when it is installed and works here, else falls back with a warning;
    ``bwrap`` fails when it cannot be used."""
    chosen = (mode or _env.read("PY_STD_ISOLATION") or "auto").strip().lower()
    if chosen not in ISOLATION_MODES:
        raise ValueError(f"isolation must be one of {', '.join(ISOLATION_MODES)}, got {chosen!r}")
    python = python or sys.executable
    sandbox = Sandbox(mode="none", limits=limits or Limits.from_env(), ids=_unprivileged_ids(), python=python)
    if chosen == "none":
        _check_unprivileged(sandbox, scratch)
        log.warning(
            "py-std: script isolation is off (--isolation none): scripts can read what the worker's user can read; "
            "run the worker in its own container or as its own user"
        )
        return sandbox
    bwrap = shutil.which("bwrap")
    problem = "bwrap (Debian package bubblewrap) is not installed" if bwrap is None else None
    if bwrap is not None:
        candidate = Sandbox(
            mode="bwrap", bwrap=bwrap, limits=sandbox.limits, ids=sandbox.ids, python=python, read_only=_read_only_paths(python)
        )
        problem = _probe(candidate, scratch)
        if problem is None:
            return candidate
        problem = f"bwrap does not work here: {problem}"
    if chosen == "bwrap":
        raise RuntimeError(f"--isolation bwrap: {problem}")
    _check_unprivileged(sandbox, scratch)
    log.warning(
        "py-std: script isolation is reduced (%s): scripts run without namespaces and can read what %s can read; "
        "install bubblewrap, or run the worker in its own container or as its own user",
        problem,
        "nobody" if sandbox.ids else "the worker's user",
    )
    return sandbox
