"""The py-std worker's old package name ``spindle.workers.std`` still works, and says it is deprecated.

Each check runs in a fresh interpreter: an import warns only the first time, and the alias installs an import hook.
"""

from __future__ import annotations

import json
import os
import subprocess

from support import PYTHON, SRC

_IMPORT_OLD_NAMES = """
import json, sys, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import spindle.workers.std as old
    from spindle.workers.std.pool import ProcessPool as OldPool
    import spindle.workers.std.sandbox as old_sandbox
import spindle.py_std as new
import spindle.py_std.pool
import spindle.py_std.sandbox
print(json.dumps({
    "warnings": [[w.category.__name__, str(w.message), w.filename] for w in caught],
    "same_functions": old.create_worker is new.create_worker and old.main is new.main,
    "same_pool_class": OldPool is spindle.py_std.pool.ProcessPool,
    "same_sandbox_module": old_sandbox is spindle.py_std.sandbox,
    "sandbox_name": old_sandbox.__name__,
    "routing_key": old.DEFAULT_ROUTING_KEY,
}))
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPINDLE_", "PYTHONWARNINGS"))}
    env["PYTHONPATH"] = str(SRC)
    return env


def test_old_package_name_imports_the_same_modules_with_a_deprecation_warning() -> None:
    done = subprocess.run([PYTHON, "-c", _IMPORT_OLD_NAMES], env=_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)

    assert result["same_functions"] is True
    assert result["same_pool_class"] is True
    assert result["same_sandbox_module"] is True
    assert result["sandbox_name"] == "spindle.py_std.sandbox"
    assert result["routing_key"] == "py-std"
    deprecations = [w for w in result["warnings"] if w[0] == "DeprecationWarning"]
    assert len(deprecations) == 1, result["warnings"]
    assert "spindle.py_std" in deprecations[0][1]
    # Attributed to the importing code (here the -c string), not to the alias package or importlib.
    assert deprecations[0][2] == "<string>"


def test_new_package_name_imports_without_a_warning() -> None:
    code = "import spindle.py_std, spindle.py_std.script, spindle.py_std.child"
    done = subprocess.run(
        [PYTHON, "-W", "error::DeprecationWarning", "-c", code], env=_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_python_m_old_name_runs_the_worker_and_warns_on_stderr() -> None:
    done = subprocess.run(
        [PYTHON, "-m", "spindle.workers.std", "--help"], env=_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "usage: spindle-py-std" in done.stdout
    assert "DeprecationWarning" in done.stderr
    assert "python -m spindle.py_std" in done.stderr
