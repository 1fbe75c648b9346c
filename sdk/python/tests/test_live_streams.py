"""The management clients' live streams (``stream_events``, ``stream_tokens``) against a real server, including a
connection cut in the middle: the clients resume after the last item they had (``Last-Event-ID``)."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from spindle import ApiError, AsyncSpindleClient, SpindleClient, Worker, WorkerConfig
from spindle._streams import SseParser
from spindle.models import StreamChunk, WorkflowEvent
from spindle.worker import ActivityContext
from support import PYTHON, SDK_ROOT, SpindleServer, WorkerThread, unique, wait_until


class CuttingProxy:
    """A TCP pass-through to the server whose open connections the test can cut, as a network failure would."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(self._target)
            with self._lock:
                self.connections += 1
                self._open += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        """Drops every open connection (both sides see a reset, not a clean end of the stream)."""
        with self._lock:
            sockets, self._open = self._open, []
        for s in sockets:
            try:
                # Linger 0: the close resets the connection. The shutdown first wakes the pump blocked on it.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self._listener.close()
        self.cut()


@pytest.fixture()
def proxy(server: SpindleServer) -> Iterator[CuttingProxy]:
    instance = CuttingProxy(server.url)
    try:
        yield instance
    finally:
        instance.close()


def held_worker(server: SpindleServer, release: threading.Event) -> Worker:
    """A worker whose ``hold`` activity waits for the test, and whose ``talk`` activity streams two chunks, the
    second one only once the test let it."""
    worker = Worker(config=WorkerConfig(api_url=server.url, worker=unique("pyw")))

    @worker.activity()
    async def hold(params: dict[str, Any], ctx: ActivityContext) -> dict[str, Any]:
        await asyncio.to_thread(release.wait, 60)
        return {"held": True}

    @worker.activity()
    async def talk(params: dict[str, Any], ctx: ActivityContext) -> dict[str, Any]:
        await ctx.stream("Hello")
        await asyncio.to_thread(release.wait, 60)
        await ctx.stream({"partial": [1, 2]})
        return {"said": "Hello"}

    return worker


def deploy(client: SpindleClient, worker: Worker, *keys: str) -> str:
    name = unique("live")
    activities: list[dict[str, Any]] = []
    for key in keys:
        activity: dict[str, Any] = {"key": key, "worker": worker.config.worker, "activity_name": key}
        if activities:
            activity["depends_on"] = [activities[-1]["key"]]
        activities.append(activity)
    # A std activity last: its events come from the server's own worker, after the Python one's.
    activities.append({"key": "after", "activity_name": "echo", "depends_on": [keys[-1]], "parameters": {"x": 1}})
    client.deploy({"name": name, "activities": activities})
    return name


def started(client: SpindleClient, workflow_id: str, key: str) -> bool:
    return any(a.activity_key == key and a.status == "running" for a in client.get(workflow_id).activities)


def test_stream_events_follows_a_run_in_order_across_a_cut_connection(
    server: SpindleServer, client: SpindleClient, proxy: CuttingProxy
) -> None:
    release = threading.Event()
    worker = held_worker(server, release)
    name = deploy(client, worker, "hold")
    received: list[WorkflowEvent] = []
    with WorkerThread(worker), SpindleClient(proxy.url) as through_proxy:
        workflow_id = client.submit(name).workflow_id
        for event in through_proxy.stream_events(workflow_id):
            received.append(event)
            if event.event_type == "ActivityStarted" and event.activity_key == "hold" and not release.is_set():
                # Everything so far was read: the cut drops an idle stream, and the rest happens while it is down.
                proxy.cut()
                release.set()
        # The iteration ended by itself after the run's terminal event.
    history = client.events(workflow_id)
    assert [e.id for e in received] == [e.id for e in history]
    assert len({e.id for e in received}) == len(received)
    assert received[0].event_type == "WorkflowCreated" and received[-1].event_type == "WorkflowCompleted"
    assert all(e.workflow_id == workflow_id for e in received)
    assert proxy.connections >= 2, "the cut should have made the client reconnect"


def test_stream_events_server_wide_resumes_after_from_event_id_and_filters_types(
    server: SpindleServer, client: SpindleClient
) -> None:
    name = unique("live_std")
    client.deploy({"name": name, "activities": [{"key": "a", "activity_name": "echo", "parameters": {"x": 1}}]})
    workflow_id = client.run(name, timeout=60).id
    created = client.events(workflow_id, event_types=["WorkflowCreated"])[0]

    async def follow() -> list[WorkflowEvent]:
        seen: list[WorkflowEvent] = []
        async with AsyncSpindleClient(server.url) as aclient:
            stream = aclient.stream_events(
                event_types=["ActivityCompleted", "WorkflowCompleted"], from_event_id=created.id
            )
            async for event in stream:
                if event.workflow_id == workflow_id:
                    seen.append(event)
                    if event.event_type == "WorkflowCompleted":
                        break
        return seen

    seen = asyncio.run(asyncio.wait_for(follow(), 60))
    assert [(e.event_type, e.activity_key) for e in seen] == [("ActivityCompleted", "a"), ("WorkflowCompleted", None)]
    expected = client.events(workflow_id, event_types=["ActivityCompleted", "WorkflowCompleted"])
    assert [e.id for e in seen] == [e.id for e in expected]


def test_stream_tokens_async_gets_ctx_stream_chunks_live_then_the_result(
    server: SpindleServer, client: SpindleClient
) -> None:
    release = threading.Event()
    worker = held_worker(server, release)
    name = deploy(client, worker, "talk")

    async def follow(workflow_id: str) -> list[StreamChunk]:
        chunks: list[StreamChunk] = []
        async with AsyncSpindleClient(server.url) as aclient:
            async for chunk in aclient.stream_tokens(workflow_id, "talk"):
                chunks.append(chunk)
                # The second chunk is published only after the first one arrived here: it comes live.
                release.set()
        return chunks

    with WorkerThread(worker):
        workflow_id = client.submit(name).workflow_id
        wait_until(lambda: started(client, workflow_id, "talk"), timeout=30, what="the talk activity to start")
        chunks = asyncio.run(asyncio.wait_for(follow(workflow_id), 60))
        assert client.wait(workflow_id, timeout=60).status == "completed"
    assert [c.type for c in chunks] == ["token", "token", "complete"]
    assert [(c.position, c.index, c.text) for c in chunks[:2]] == [(1, 0, "Hello"), (2, 1, '{"partial":[1,2]}')]
    assert chunks[1].json() == {"partial": [1, 2]}
    assert chunks[2].done and not chunks[0].done and chunks[2].result == {"said": "Hello"}


def test_stream_tokens_sync_resumes_after_a_cut_without_repeating_a_chunk(
    server: SpindleServer, client: SpindleClient, proxy: CuttingProxy
) -> None:
    release = threading.Event()
    worker = held_worker(server, release)
    name = deploy(client, worker, "talk")
    chunks: list[StreamChunk] = []
    with WorkerThread(worker), SpindleClient(proxy.url) as through_proxy:
        workflow_id = client.submit(name).workflow_id
        wait_until(lambda: started(client, workflow_id, "talk"), timeout=30, what="the talk activity to start")
        for chunk in through_proxy.stream_tokens(workflow_id, "talk"):
            chunks.append(chunk)
            if not release.is_set():
                proxy.cut()
                release.set()
        assert client.wait(workflow_id, timeout=60).status == "completed"
    assert [(c.type, c.position) for c in chunks] == [("token", 1), ("token", 2), ("complete", 3)]
    assert [c.text for c in chunks[:2]] == ["Hello", '{"partial":[1,2]}']
    assert proxy.connections >= 2, "the cut should have made the client reconnect"


def test_sse_parser_reads_the_event_stream_format() -> None:
    parser = SseParser()
    lines = [": a comment\r\n", "event: ping\n", "data: {}\n", "\n", "data: one\n", "data:two\n", "id: 7\n", "\n"]
    lines += ["retry: 10\n", "data: three\r\n", "\r\n", "id\n", "data: four\n"]
    messages = [m for m in (parser.line(line) for line in lines) if m is not None]
    assert [(m.event, m.data, m.id) for m in messages] == [("ping", "{}", None), ("message", "one\ntwo", "7"), ("message", "three", "7")]
    # An "id" line without a value resets the id; "four" waits for its blank line, and nothing is left after it.
    last = parser.line("\n")
    assert last is not None and (last.data, last.id) == ("four", "")
    assert parser.line("\n") is None


def test_stream_tokens_of_an_unknown_activity_raises_404_at_once(server: SpindleServer, client: SpindleClient) -> None:
    name = unique("live_std")
    client.deploy({"name": name, "activities": [{"key": "a", "activity_name": "echo", "parameters": {"x": 1}}]})
    workflow_id = client.run(name, timeout=60).id
    with pytest.raises(ApiError) as missing:
        next(iter(client.stream_tokens(workflow_id, "nope")))
    assert missing.value.status_code == 404


def test_the_readme_live_streams_example_runs(server: SpindleServer) -> None:
    readme = (SDK_ROOT / "README.md").read_text()
    section = readme[readme.index("### Live streams") :]
    code = section[section.index("```python\n") + len("```python\n") : section.index("\n```", section.index("```python"))]
    env = {**os.environ, "SPINDLE_API_URL": server.url, "PYTHONPATH": str(SDK_ROOT / "src")}
    done = subprocess.run([PYTHON, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:5] == ["Hello", "from", "a", "worker", "result: {'words': 4}"]
    assert [line.split()[0] for line in lines[5:]] == [
        "WorkflowCreated", "ActivityScheduled", "ActivityStarted", "ActivityCompleted", "WorkflowCompleted"
    ]
