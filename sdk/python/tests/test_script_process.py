"""The script process of the py-std worker (docs/worker-protocol.md), driven through the real process pool."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from spindle.py_std.pool import ProcessDied, ScriptProcess, child_environment
from spindle.py_std.sandbox import Limits, Sandbox
from pool_harness import PoolHarness, no_calls, ok
from support import marked_processes, marker, pid_alive, wait_until


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PoolHarness]:
    h = PoolHarness(str(tmp_path_factory.mktemp("scripts")))
    try:
        yield h
    finally:
        h.close()


def test_plain_script_assigns_output_from_input(harness: PoolHarness) -> None:
    reply, _ = harness.run("OUTPUT = {'double': INPUT['n'] * 2}", {"n": 21})
    assert ok(reply) == {"double": 42}


def test_script_may_mutate_the_preset_output_dict(harness: PoolHarness) -> None:
    reply, _ = harness.run("OUTPUT['a'] = 1\nOUTPUT['b'] = [INPUT.get('x')]", {"x": "y"})
    assert ok(reply) == {"a": 1, "b": ["y"]}


def test_script_that_never_touches_output_returns_empty_object(harness: PoolHarness) -> None:
    reply, _ = harness.run("x = 1 + 1")
    assert ok(reply) == {}


def test_main_entry_point_receives_input_when_output_is_untouched(harness: PoolHarness) -> None:
    reply, _ = harness.run("def main(data):\n    return {'total': sum(data['values'])}", {"values": [1, 2, 3]})
    assert ok(reply) == {"total": 6}


def test_main_without_parameters_is_called_without_input(harness: PoolHarness) -> None:
    reply, _ = harness.run("def main():\n    return 'no args'")
    assert ok(reply) == "no args"


def test_async_main_is_awaited(harness: PoolHarness) -> None:
    script = "import asyncio\nasync def main(data):\n    await asyncio.sleep(0.01)\n    return data['v'] + 1"
    reply, _ = harness.run(script, {"v": 1})
    assert ok(reply) == 2


def test_main_is_not_called_when_the_script_set_output(harness: PoolHarness) -> None:
    reply, _ = harness.run("def main(data):\n    raise RuntimeError('must not run')\nOUTPUT = 'set'")
    assert ok(reply) == "set"


def test_top_level_await_runs_on_the_script_process_loop(harness: PoolHarness) -> None:
    script = "import asyncio\nawait asyncio.sleep(0.01)\nresults = await asyncio.gather(*(asyncio.sleep(0, r) for r in range(3)))\nOUTPUT = {'results': results}"
    reply, _ = harness.run(script)
    assert ok(reply) == {"results": [0, 1, 2]}


def test_sdk_function_form_with_async_def_works(harness: PoolHarness) -> None:
    script = (
        "async def add(a, b):\n    return a + b\n"
        "a = INPUT.get('a')\nb = INPUT.get('b')\nOUTPUT = await add(a, b)"
    )
    reply, _ = harness.run(script, {"a": 2, "b": 3})
    assert ok(reply) == 5


def test_globals_expose_signal_context_and_identifiers(harness: PoolHarness) -> None:
    script = (
        "OUTPUT = {'signal': SIGNAL, 'wf': workflow_id, 'key': activity_key, 'attempt': ctx.attempt,"
        " 'iteration': ctx.iteration, 'ctx_wf': ctx.workflow_id, 'activity_id': ctx.activity_id,"
        " 'logger': logger.name, 'same_logger': logger is ctx.logger}"
    )
    reply, _ = harness.run(
        script, signal={"approved": True}, workflow_id="wf-9", activity_key="review", attempt=2, iteration=3, activity_id="a-9"
    )
    assert ok(reply) == {
        "signal": {"approved": True},
        "wf": "wf-9",
        "key": "review",
        "attempt": 2,
        "iteration": 3,
        "ctx_wf": "wf-9",
        "activity_id": "a-9",
        "logger": "spindle.activity.review",
        "same_logger": True,
    }


def test_ctx_heartbeat_is_relayed_to_the_worker(harness: PoolHarness) -> None:
    calls: list[str] = []

    async def handler(method: str, args: dict[str, Any]) -> Any:
        calls.append(method)
        return True

    reply, pid = harness.run("OUTPUT = {'cancel_requested': await ctx.heartbeat()}", handler=handler)
    assert ok(reply) == {"cancel_requested": True}
    assert calls == ["heartbeat"]
    assert not reply["retire"], "the thread that reads the replies belongs to the process, not to the script"
    again, same_pid = harness.run(
        "import threading\nOUTPUT = [await ctx.heartbeat(), await ctx.heartbeat(), threading.active_count()]", handler=handler
    )
    assert same_pid == pid and ok(again)[:2] == [True, True] and not again["retire"]


def test_failed_ctx_call_raises_inside_the_script(harness: PoolHarness) -> None:
    reply, _ = harness.run("await ctx.upload_file('missing.csv')")
    assert reply["code"] == "SCRIPT_ERROR"
    assert "unexpected ctx call upload_file" in reply["message"]


def test_cost_usd_global_is_reported_as_a_decimal_string(harness: PoolHarness) -> None:
    reply, _ = harness.run("COST_USD = 0.0125\nOUTPUT = 1")
    assert reply["ok"] and reply["cost_usd"] == "0.0125"


def test_negative_cost_usd_fails_with_output_error(harness: PoolHarness) -> None:
    reply, _ = harness.run("COST_USD = -1")
    assert reply["code"] == "OUTPUT_ERROR"
    assert "COST_USD" in reply["message"]


def test_syntax_error_names_the_line(harness: PoolHarness) -> None:
    reply, _ = harness.run("x = 1\ny = (\n")
    assert reply["ok"] is False and reply["code"] == "SYNTAX_ERROR"
    assert reply["message"].startswith("SyntaxError at line 2: ")


def test_exception_message_has_type_blank_line_and_script_traceback_only(harness: PoolHarness) -> None:
    script = "def check(v):\n    raise ValueError(f'bad value {v}')\n\ncheck(INPUT['v'])"
    reply, _ = harness.run(script, {"v": 7})
    assert reply["code"] == "SCRIPT_ERROR"
    message = reply["message"]
    head, _, trace = message.partition("\n\n")
    assert head == "ValueError: bad value 7"
    assert trace.startswith("Traceback (most recent call last):")
    assert 'File "<script>", line 4, in <module>' in trace
    assert 'File "<script>", line 2, in check' in trace
    assert "raise ValueError" in trace
    assert "child.py" not in message and "spindle" not in message


def test_exception_inside_awaited_code_keeps_only_script_frames(harness: PoolHarness) -> None:
    script = "import asyncio\nasync def step():\n    await asyncio.sleep(0)\n    1 / 0\nawait step()"
    reply, _ = harness.run(script)
    head, _, trace = reply["message"].partition("\n\n")
    assert head == "ZeroDivisionError: division by zero"
    assert trace.splitlines()[1].strip().startswith('File "<script>", line 5')
    assert "base_events" not in trace


def test_system_exit_fails_the_script_instead_of_the_process(harness: PoolHarness) -> None:
    reply, pid = harness.run("import sys\nsys.exit(3)")
    assert reply["code"] == "SCRIPT_ERROR"
    assert reply["message"].startswith("SystemExit: 3")
    assert pid_alive(pid)


def test_long_error_messages_keep_their_last_32_kib(harness: PoolHarness) -> None:
    reply, _ = harness.run("raise RuntimeError('x' * 100000 + 'END')")
    assert len(reply["message"].encode()) <= 32 * 1024
    assert "END" in reply["message"]


def test_unserializable_output_fails_with_output_error_naming_type_and_path(harness: PoolHarness) -> None:
    reply, _ = harness.run("class Model: pass\nOUTPUT = {'model': Model()}")
    assert reply["code"] == "OUTPUT_ERROR"
    assert "OUTPUT_NOT_SERIALIZABLE" in reply["message"]
    assert "OUTPUT['model']" in reply["message"] and "Model" in reply["message"]


def test_pandas_and_numpy_output_is_converted(harness: PoolHarness) -> None:
    script = (
        "import pandas as pd, numpy as np, datetime, decimal\n"
        "df = pd.DataFrame({'a': [1, 2], 'b': [0.5, np.nan]})\n"
        "OUTPUT = {'rows': df, 'mean': df['a'].mean(), 'arr': np.arange(3), 'day': datetime.date(2026, 1, 2),"
        " 'price': decimal.Decimal('9.99'), 'pair': (1, 2)}"
    )
    reply, _ = harness.run(script)
    assert ok(reply) == {
        "rows": [{"a": 1, "b": 0.5}, {"a": 2, "b": None}],
        "mean": 1.5,
        "arr": [0, 1, 2],
        "day": "2026-01-02",
        "price": "9.99",
        "pair": [1, 2],
    }


def test_reused_process_gives_each_script_fresh_globals_and_environment(harness: PoolHarness) -> None:
    first, pid1 = harness.run("SECRET_VALUE = 41\nimport os\nos.environ['LEAK'] = 'yes'\nOUTPUT = 1")
    second, pid2 = harness.run(
        "import os\nOUTPUT = {'sees_global': 'SECRET_VALUE' in globals(), 'sees_env': 'LEAK' in os.environ}"
    )
    assert pid1 == pid2, "the warm process should be reused"
    assert ok(first) == 1
    assert ok(second) == {"sees_global": False, "sees_env": False}


def test_script_runs_in_the_given_working_directory(harness: PoolHarness, tmp_path: Any) -> None:
    reply, _ = harness.run(
        "import os\nopen('out.txt', 'w').write('hi')\nOUTPUT = os.getcwd()", cwd=str(tmp_path)
    )
    assert ok(reply) == str(tmp_path)
    assert (tmp_path / "out.txt").read_text() == "hi"


def test_each_run_gets_a_fresh_working_directory_that_is_deleted_afterwards(harness: PoolHarness) -> None:
    script = "import os\nopen('scratch.txt', 'w').write('x')\nOUTPUT = {'cwd': os.getcwd(), 'files': os.listdir('.')}"
    first, pid1 = harness.run(script)
    second, pid2 = harness.run(script)
    assert pid1 == pid2
    assert ok(first)["files"] == ["scratch.txt"] and ok(second)["files"] == ["scratch.txt"]
    assert ok(first)["cwd"] != ok(second)["cwd"]
    wait_until(lambda: not os.path.exists(ok(first)["cwd"]), 5, what="the first run's directory to be deleted")


def test_a_run_directory_left_empty_is_handed_to_the_next_run_only_while_it_is_pristine(harness: PoolHarness) -> None:
    look = "import os\nOUTPUT = {'cwd': os.getcwd(), 'files': os.listdir('.'), 'mode': oct(os.stat('.').st_mode & 0o777)}"
    first, _ = harness.run("import os\nopen('tmp.txt', 'w').write('x')\nos.remove('tmp.txt')\n" + look)
    second, _ = harness.run(look)
    assert ok(second) == {**ok(first), "files": []}, "an empty directory is reused as it is"
    harness.run("import os\nos.chmod('.', 0o755)")
    third, _ = harness.run(look)
    assert ok(third)["cwd"] != ok(first)["cwd"] and ok(third)["files"] == [] and ok(third)["mode"] == "0o700"
    wait_until(lambda: not os.path.exists(ok(first)["cwd"]), 5, what="the changed directory to be deleted")


def test_a_replaced_os_environ_is_put_back(harness: PoolHarness) -> None:
    first, pid1 = harness.run("import os\nos.environ = {'ONLY': 'this'}\nOUTPUT = 1")
    second, pid2 = harness.run("import os\nOUTPUT = {'type': type(os.environ).__name__, 'has_path': 'PATH' in os.environ}")
    assert pid1 == pid2
    assert ok(second) == {"type": "_Environ", "has_path": True}


def test_print_output_comes_back_with_the_result_bounded_and_not_in_the_worker_log(
    harness: PoolHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="spindle.script")
    reply, _ = harness.run(
        "import sys\nprint('hello from script')\nprint('to stderr', file=sys.stderr)\n"
        "for i in range(20000):\n    print('line', i, 'x' * 40)\nprint('the end')\nOUTPUT = 'done'",
        activity_id="act-print",
    )
    assert ok(reply) == "done"
    # The last 64 KiB of what the script printed, not the megabyte it wrote.
    assert reply["log_bytes"] > 900_000
    assert len(reply["log"].encode()) <= 64 * 1024
    assert reply["log"].endswith("line 19999 " + "x" * 40 + "\nthe end\n")
    assert "hello from script" not in reply["log"]
    assert "line 19999" not in caplog.text and "hello from script" not in caplog.text


def test_script_left_running_threads_retires_its_process(harness: PoolHarness) -> None:
    reply, _ = harness.run("import threading, time\nthreading.Thread(target=time.sleep, args=(30,), daemon=True).start()")
    assert reply["ok"] and reply["retire"] is True


def test_process_killed_by_a_signal_is_reported_with_its_exit_status(harness: PoolHarness) -> None:
    with pytest.raises(ProcessDied) as info:
        harness.run("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    assert "signal 9 (SIGKILL)" in str(info.value)


def test_terminate_stops_a_tight_cpu_loop(harness: PoolHarness) -> None:
    process: ScriptProcess = harness.call(harness.pool.acquire())
    running = harness.submit(process.run({"type": "run", "script": "while True: pass", "cwd": harness.tmp}, no_calls))
    time.sleep(0.3)
    assert not running.done()
    started = time.monotonic()
    harness.call(harness.pool.discard(process, grace=5.0))
    assert time.monotonic() - started < 3
    assert not pid_alive(process.pid)
    with pytest.raises(ProcessDied):
        running.result(5)


def test_terminate_kills_a_script_that_ignores_sigterm_after_the_grace_period(harness: PoolHarness) -> None:
    process: ScriptProcess = harness.call(harness.pool.acquire())
    script = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True: time.sleep(0.01)"
    running = harness.submit(process.run({"type": "run", "script": script, "cwd": harness.tmp}, no_calls))
    time.sleep(0.5)
    started = time.monotonic()
    harness.call(harness.pool.discard(process, grace=0.5))
    assert 0.4 < time.monotonic() - started < 5
    assert not pid_alive(process.pid)
    with pytest.raises(ProcessDied):
        running.result(5)


def test_script_process_environment_has_no_credentials(tmp_path: Any) -> None:
    base = {
        "PATH": os.environ.get("PATH", ""),
        "SPINDLE_CLIENT_SECRET": "s3cret",
        "SPINDLE_CLIENT_ID": "worker",
        "KRUXIAFLOW_CLIENT_SECRET": "old",
        "SPINDLE_API_URL": "http://127.0.0.1:1",
        "HOME": str(tmp_path),
    }
    harness = PoolHarness(str(tmp_path), env=child_environment(base))
    try:
        reply, _ = harness.run("import os\nOUTPUT = sorted(k for k in os.environ if 'SPINDLE' in k or 'KRUXIA' in k)")
    finally:
        harness.close()
    # Built from an allow-list: nothing of the worker's own settings, credentials or not.
    assert ok(reply) == []


def test_consecutive_scripts_reuse_one_warm_process_with_fresh_globals(harness: PoolHarness) -> None:
    # Reuse is what makes a trivial script cheap (speed itself is measured in bench/, not here).
    first, _ = harness.run("import os\nleaked = 1\nOUTPUT = os.getpid()", {})
    second, _ = harness.run("import os\nOUTPUT = [os.getpid(), 'leaked' in globals()]", {})
    assert ok(second) == [ok(first), False]


def test_crash_is_reported_promptly_even_when_a_forked_child_holds_the_pipes(harness: PoolHarness, tmp_path: Any) -> None:
    pid_file = tmp_path / "grandchild"
    script = (
        "import os, signal, time\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    time.sleep(30)\n"
        "    os._exit(0)\n"
        f"open({str(pid_file)!r}, 'w').write(str(child))\n"
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    started = time.monotonic()
    with pytest.raises(ProcessDied) as info:
        harness.run(script)
    assert time.monotonic() - started < 5
    assert "SIGKILL" in str(info.value)
    grandchild = int(pid_file.read_text())
    wait_until(lambda: not pid_alive(grandchild), 10, what="the forked child to be killed with its script")


LEAVE_CHILDREN = (
    "import ctypes, os, subprocess, sys, time\n"
    "mark = INPUT['marker']\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', mark], start_new_session=True)\n"
    "def sleeper():\n"
    "    try:\n"
    "        ctypes.CDLL(None).prctl(15, mark.encode(), 0, 0, 0)\n"
    "        time.sleep(300)\n"
    "    finally:\n"
    "        os._exit(0)\n"
    "first = os.fork()\n"
    "if first == 0:\n"
    "    try:\n"
    "        os.setsid()\n"
    "        if os.fork() == 0:\n"
    "            sleeper()\n"
    "    finally:\n"
    "        os._exit(0)\n"
    "os.waitpid(first, 0)\n"
    "if os.fork() == 0:\n"
    "    sleeper()\n"
)


def test_processes_a_script_left_are_killed_when_it_finishes(harness: PoolHarness) -> None:
    mark = marker()
    reply, pid = harness.run(LEAVE_CHILDREN + "time.sleep(0.2)\nOUTPUT = 'left three'", {"marker": mark})
    assert ok(reply) == "left three"
    assert pid_alive(pid)
    # The interpreter is a child subreaper: the setsid child, the double-forked daemon and the fork child are all
    # found below it and killed before the result is sent.
    assert marked_processes(mark) == []


def test_processes_a_script_left_are_killed_with_it_at_timeout(harness: PoolHarness) -> None:
    mark = marker()
    process: ScriptProcess = harness.call(harness.pool.acquire())
    script = LEAVE_CHILDREN + "while True:\n    time.sleep(0.01)"
    running = harness.submit(process.run({"type": "run", "script": script, "inputs": {"marker": mark}}, no_calls))
    wait_until(lambda: len(marked_processes(mark)) >= 3, 10, what="the script's children")
    harness.call(harness.pool.discard(process, grace=1.0))
    with pytest.raises(ProcessDied):
        running.result(5)
    wait_until(lambda: not marked_processes(mark), 10, what="every process of the script to be gone")


def test_script_limits_fail_the_script_with_their_codes(tmp_path: Any) -> None:
    harness = PoolHarness(str(tmp_path), sandbox=Sandbox(limits=Limits(memory_mb=512, file_size_mb=1, cpu_seconds=1)))
    try:
        memory, pid = harness.run("blocks = []\nwhile True:\n    blocks.append(bytearray(32 * 1024 * 1024))")
        assert (memory["ok"], memory["code"], memory["retire"]) == (False, "MEMORY_LIMIT_EXCEEDED", True)
        assert "limit 512 MiB" in memory["message"]
        big_file, _ = harness.run("open('big', 'wb').write(b'x' * (2 * 1024 * 1024))")
        assert (big_file["code"], "File too large" in big_file["message"]) == ("SCRIPT_ERROR", True)
        cpu, _ = harness.run("while True:\n    pass")
        assert (cpu["ok"], cpu["code"]) == (False, "CPU_LIMIT_EXCEEDED")
        # One script's CPU time does not count against the next one's.
        after, _ = harness.run("OUTPUT = sum(range(10 ** 6))")
        assert ok(after) == sum(range(10**6))
    finally:
        harness.close()


def test_oversized_output_fails_in_the_script_process_with_output_too_large(harness: PoolHarness) -> None:
    reply, _ = harness.run("OUTPUT = 'x' * (3 * 1024 * 1024)", max_output_bytes=1024 * 1024)
    assert (reply["ok"], reply["code"]) == (False, "OUTPUT_TOO_LARGE")
    assert "over the server's limit of 1.0 MiB" in reply["message"]
