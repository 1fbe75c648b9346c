"""The py-std worker process (``python -m spindle.py_std``) against a real server (docs/worker-protocol.md)."""

from __future__ import annotations

import re
import signal
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from spindle import SpindleClient
from support import MARK_PROCESS, PyStdProcess, SpindleServer, marked_processes, marker, unique, wait_until


def script_step(key: str, script: str, inputs: Any = None, **extra: Any) -> dict[str, Any]:
    parameters: dict[str, Any] = {"script": script}
    if inputs is not None:
        parameters["inputs"] = inputs
    return {"key": key, "worker": extra.pop("worker", "py-std"), "activity_name": "script", "parameters": parameters, **extra}


def deploy(client: SpindleClient, *activities: dict[str, Any]) -> str:
    name = unique("pystd")
    client.deploy({"name": name, "activities": list(activities)})
    return name


def wait_marked(mark: str, timeout: float = 30) -> list[int]:
    return wait_until(lambda: marked_processes(mark), timeout, what=f"a script process named {mark}")


def test_script_result_feeds_a_downstream_std_step(py_std: PyStdProcess, client: SpindleClient) -> None:
    name = deploy(
        client,
        {"key": "orders", "activity_name": "echo", "parameters": {"amounts": [10, 20, 12.5]}},
        script_step(
            "total",
            "OUTPUT = {'total': sum(INPUT['amounts']), 'count': len(INPUT['amounts'])}",
            {"amounts": "{{orders.echo.amounts}}"},
            depends_on=["orders"],
        ),
        {"key": "report", "activity_name": "echo", "parameters": {"line": "{{total.result.count}} orders, {{total.result.total}}"}, "depends_on": ["total"]},
    )
    wf = client.run(name, timeout=60)
    assert wf.status == "completed", wf.error_message
    assert wf.output("total") == {"total": 42.5, "count": 3}
    assert wf.output("report", "echo") == {"line": "3 orders, 42.5"}


def test_script_exception_fails_once_with_script_error_and_its_traceback(py_std: PyStdProcess, client: SpindleClient) -> None:
    script = "def load(rows):\n    return rows['missing']\n\nOUTPUT = load(INPUT)"
    name = deploy(client, script_step("s", script, {"present": 1}, settings={"retry": {"max_attempts": 3}}))
    wf = client.run(name, timeout=60)
    step = wf.activity("s")
    assert (wf.status, step.status, step.error_code, step.attempt) == ("failed", "failed", "SCRIPT_ERROR", 1)
    head, _, trace = (step.error_message or "").partition("\n\n")
    assert head == "KeyError: 'missing'"
    assert 'File "<script>", line 4, in <module>' in trace and 'File "<script>", line 2, in load' in trace


def test_bad_parameters_and_syntax_errors_fail_with_their_codes(py_std: PyStdProcess, client: SpindleClient) -> None:
    name = deploy(
        client,
        script_step("syntax", "OUTPUT = (1,\n"),
        {"key": "missing", "worker": "py-std", "activity_name": "script", "parameters": {"inputs": {}}},
        script_step("empty", "   "),
        script_step("inputs", "OUTPUT = INPUT", [1, 2]),
        script_step("output", "OUTPUT = {'f': open}"),
    )
    wf = client.run(name, timeout=60)
    codes = {a.activity_key: (a.error_code, a.attempt) for a in wf.activities}
    assert codes == {
        "syntax": ("SYNTAX_ERROR", 1),
        "missing": ("MISSING_SCRIPT", 1),
        "empty": ("MISSING_SCRIPT", 1),
        "inputs": ("INVALID_PARAMETERS", 1),
        "output": ("OUTPUT_ERROR", 1),
    }
    assert wf.activity("syntax").error_message.startswith("SyntaxError at line 1: ")  # type: ignore[union-attr]
    assert "OUTPUT['f']" in wf.activity("output").error_message  # type: ignore[operator]


def test_runaway_script_is_killed_at_its_timeout(py_std: PyStdProcess, client: SpindleClient) -> None:
    mark = marker()
    name = deploy(
        client,
        script_step("spin", MARK_PROCESS + "while True:\n    pass", {"marker": mark}, settings={"timeout_seconds": 2, "retry": {"max_attempts": 1}}),
    )
    started = time.monotonic()
    wf = client.run(name, timeout=60)
    step = wf.activity("spin")
    assert (step.error_code, step.error_message) == ("TIMEOUT", "Script exceeded timeout of 2 s")
    assert time.monotonic() - started < 15
    wait_until(lambda: not marked_processes(mark), 10, what="the script process to be gone")


def test_cancelling_the_workflow_kills_the_script(py_std: PyStdProcess, client: SpindleClient) -> None:
    mark = marker()
    name = deploy(
        client,
        script_step("sleepy", MARK_PROCESS + "time.sleep(30)", {"marker": mark}, settings={"timeout_seconds": 4}),
    )
    wid = client.submit(name).workflow_id
    wait_marked(mark)
    client.cancel(wid, reason="operator")
    wait_until(lambda: client.get(wid).activity("sleepy").status == "cancelled", 10, what="activity cancelled")
    assert client.get(wid).activity("sleepy").error_code == "CANCELLED"
    wait_until(lambda: not marked_processes(mark), 10, what="the script process to be gone")


def test_crashed_script_process_is_retryable(py_std: PyStdProcess, client: SpindleClient) -> None:
    script = "import os, signal\nif ctx.attempt == 1:\n    os.kill(os.getpid(), signal.SIGKILL)\nOUTPUT = {'attempt': ctx.attempt}"
    retry = {"max_attempts": 2, "strategy": "fixed", "base_seconds": 0}
    name = deploy(client, script_step("crash", script, settings={"retry": retry}))
    wf = client.run(name, timeout=60)
    assert wf.status == "completed", wf.error_message
    assert wf.output("crash") == {"attempt": 2}
    [failure] = [e.payload for e in client.events(wf.id, event_types=["ActivityFailed"])]
    assert failure["error_code"] == "SCRIPT_CRASHED" and failure["retryable"] is True
    assert "signal 9 (SIGKILL)" in failure["error_message"]


def test_signal_data_cost_and_ctx_heartbeat_reach_the_script(py_std: PyStdProcess, client: SpindleClient) -> None:
    script = (
        "cancel = await ctx.heartbeat()\n"
        "COST_USD = '0.0150'\n"
        "OUTPUT = {'signal': SIGNAL, 'cancel': cancel, 'key': activity_key, 'same_wf': workflow_id == ctx.workflow_id}"
    )
    name = deploy(client, script_step("approve", script, settings={"wait_for_signal": {"event_name": "approved"}}))
    wid = client.submit(name).workflow_id
    wait_until(lambda: client.get(wid).activities and client.get(wid).activity("approve").status == "waiting", 30, what="waiting")
    assert client.signal(wid, "approved", {"by": "ada"}, activity_key="approve").signaled
    wf = client.wait(wid, timeout=60)
    assert wf.output("approve") == {"signal": {"by": "ada"}, "cancel": False, "key": "approve", "same_wf": True}
    assert wf.total_cost_usd == Decimal("0.0150")


def test_async_main_and_pandas_output_work_end_to_end(py_std: PyStdProcess, client: SpindleClient) -> None:
    script = (
        "import asyncio\nimport pandas as pd\n"
        "async def main(data):\n"
        "    await asyncio.sleep(0)\n"
        "    df = pd.DataFrame(data['rows'])\n"
        "    return df.groupby('team', as_index=False)['points'].sum()\n"
    )
    rows = [{"team": "a", "points": 1}, {"team": "b", "points": 2}, {"team": "a", "points": 3}]
    name = deploy(client, script_step("agg", script, {"rows": rows}))
    wf = client.run(name, timeout=60)
    assert wf.output("agg") == [{"team": "a", "points": 4}, {"team": "b", "points": 2}]


def test_script_prints_go_to_the_worker_debug_log_not_the_output(py_std: PyStdProcess, client: SpindleClient) -> None:
    printed = unique("printed")
    name = deploy(client, script_step("talk", f"print('{printed}')"))
    wf = client.run(name, timeout=60)
    assert wf.output("talk") == {}
    wait_until(lambda: printed in py_std.log(), 10, what="the printed line in the worker log")
    assert re.search(r"DEBUG spindle.py_std: Script [0-9a-f-]{36} printed \d+ bytes; the last: " + printed, py_std.log())


def test_cpu_heavy_scripts_run_in_parallel_processes(py_std: PyStdProcess, client: SpindleClient) -> None:
    script = (
        "import os, time\nstart = time.time()\nx = 0\n"
        "while time.time() - start < 1.0:\n    x += 1\n"
        # In the sandbox each interpreter is pid 2 of a PID namespace of its own: the namespace tells them apart.
        "OUTPUT = {'pid': f\"{os.readlink('/proc/self/ns/pid')}:{os.getpid()}\", 'start': start, 'end': time.time()}"
    )
    name = deploy(client, script_step("a", script), script_step("b", script))
    wf = client.run(name, timeout=60)
    a, b = wf.output("a"), wf.output("b")
    assert a["pid"] != b["pid"]
    assert a["start"] < b["end"] and b["start"] < a["end"], "the two scripts should overlap in time"


def test_sigterm_lets_a_running_script_finish_then_the_worker_exits(
    server: SpindleServer, client: SpindleClient, tmp_path: Path
) -> None:
    routing = unique("py-drain")
    worker = PyStdProcess(server.url, tmp_path / "drain.log", SPINDLE_WORKER=routing, SPINDLE_PY_STD_WARM_PROCESSES="1").start()
    mark = marker()
    name = deploy(client, script_step("job", MARK_PROCESS + "time.sleep(1.5)\nOUTPUT = 'finished'", {"marker": mark}, worker=routing))
    wid = client.submit(name).workflow_id
    wait_marked(mark)
    worker.signal(signal.SIGTERM)
    assert worker.wait_exit(timeout=20) == 0
    wf = client.wait(wid, timeout=10)
    assert wf.status == "completed" and wf.output("job") == "finished"
    assert "draining 1 running activity" in worker.log()


def test_script_still_running_after_the_grace_period_is_stopped_as_worker_shutdown(
    server: SpindleServer, client: SpindleClient, tmp_path: Path
) -> None:
    routing = unique("py-drain")
    worker = PyStdProcess(
        server.url,
        tmp_path / "drain.log",
        SPINDLE_WORKER=routing,
        SPINDLE_WORKER_SHUTDOWN_TIMEOUT="0.5",
        SPINDLE_PY_STD_WARM_PROCESSES="1",
    ).start()
    mark = marker()
    # A backoff keeps the retry unclaimable while the server notices that the worker's aborted long-poll is gone;
    # with 0 s that poll could still take the retry in the few milliseconds before its connection's close arrives.
    retry = {"max_attempts": 2, "strategy": "fixed", "base_seconds": 5}
    name = deploy(client, script_step("job", MARK_PROCESS + "time.sleep(60)", {"marker": mark}, worker=routing, settings={"retry": retry}))
    wid = client.submit(name).workflow_id
    wait_marked(mark)
    began = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.wait_exit(timeout=30) == 0
    assert time.monotonic() - began < 10
    assert not marked_processes(mark)
    [failure] = [e.payload for e in client.events(wid, event_types=["ActivityFailed"])]
    assert failure["error_code"] == "WORKER_SHUTDOWN"
    assert failure["retryable"] is True and failure["will_retry"] is True
    step = client.get(wid).activity("job")
    assert (step.status, step.attempt) == ("pending", 2)
    client.cancel(wid, reason="test cleanup")
