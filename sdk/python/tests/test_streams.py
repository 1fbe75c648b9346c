"""Live activity streams from Python: ``ctx.stream`` in a worker handler and ``STREAM(...)`` in a py-std script,
read back through the server's SSE route as a subscriber would."""

from __future__ import annotations

import json
from typing import Any

import httpx

from spindle import SpindleClient, Worker, WorkerConfig
from spindle.worker import ActivityContext
from support import PyStdProcess, SpindleServer, WorkerThread, unique


def read_activity_stream(server: SpindleServer, workflow_id: str, key: str) -> list[dict[str, Any]]:
    """Every frame of the activity's stream, via SSE (a late subscriber gets the frames so far, then the end)."""
    frames: list[dict[str, Any]] = []
    url = f"{server.url}/api/v1/workflows/{workflow_id}/activities/{key}/stream"
    with httpx.stream("GET", url, headers={"accept": "text/event-stream"}, timeout=30) as response:
        assert response.status_code == 200, response.read()
        event = "message"
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "message":
                frames.append(json.loads(line.split(":", 1)[1]))
                if frames[-1]["type"] in ("complete", "error"):
                    return frames
            elif line == "":
                event = "message"
    raise AssertionError(f"the stream ended without complete or error: {frames}")


def test_ctx_stream_publishes_chunks_and_the_worker_ends_the_stream_with_the_result(
    server: SpindleServer, client: SpindleClient
) -> None:
    worker = Worker(config=WorkerConfig(api_url=server.url, worker=unique("pyw")))

    @worker.activity()
    async def talk(params: dict[str, Any], ctx: ActivityContext) -> dict[str, Any]:
        await ctx.stream("Hello")
        await ctx.stream({"partial": [1, 2]})
        return {"said": "Hello"}

    name = unique("wf")
    client.deploy({"name": name, "activities": [{"key": "talk", "worker": worker.config.worker, "activity_name": "talk"}]})
    with WorkerThread(worker):
        wf = client.run(name, timeout=60)
    assert wf.status == "completed", wf.error_message
    assert wf.output("talk", "said") == "Hello"

    frames = read_activity_stream(server, wf.id, "talk")
    assert [f["type"] for f in frames] == ["token", "token", "complete"]
    assert [(f["text"], f["index"]) for f in frames[:2]] == [("Hello", 0), ('{"partial":[1,2]}', 1)]
    assert frames[2]["result"] == {"said": "Hello"}


def test_py_std_script_streams_with_the_STREAM_global(py_std: PyStdProcess, server: SpindleServer, client: SpindleClient) -> None:
    script = "STREAM('one')\nSTREAM({'two': 2})\nOUTPUT = {'done': True}"
    name = unique("pystd")
    client.deploy({"name": name, "activities": [{"key": "s", "worker": "py-std", "activity_name": "script", "parameters": {"script": script}}]})
    wf = client.run(name, timeout=60)
    assert wf.status == "completed", wf.error_message

    frames = read_activity_stream(server, wf.id, "s")
    assert [f.get("text") for f in frames[:2]] == ["one", '{"two":2}']
    assert frames[2]["type"] == "complete"
    assert frames[2]["result"] == {"result": {"done": True}}  # the completion object of the script activity
