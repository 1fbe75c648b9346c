"""Token authentication against a real server that requires it (no ``--insecure-dev``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spindle import ApiError, AuthenticationError, SpindleClient, Worker, WorkerConfig
from support import PyStdProcess, SpindleServer, WorkerThread, create_client, unique


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpindleServer]:
    server = SpindleServer(data_dir=tmp_path_factory.mktemp("secured"), insecure=False)
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


def test_calls_without_a_token_are_refused_with_a_hint(secured: SpindleServer) -> None:
    with SpindleClient(secured.url) as anonymous:
        with pytest.raises(AuthenticationError) as info:
            anonymous.list_workflows()
    assert info.value.status_code == 401
    assert "configure SPINDLE_CLIENT_ID and SPINDLE_CLIENT_SECRET" in str(info.value)


def test_wrong_secret_is_rejected_by_the_token_endpoint(secured: SpindleServer, admin: SpindleClient) -> None:
    client_id, _ = create_client(admin, unique("wrong"), ["workflows"])
    with SpindleClient(secured.url, client_id=client_id, client_secret="not-the-secret") as c:
        with pytest.raises(AuthenticationError, match="Invalid client credentials"):
            c.list_workflows()


def test_worker_scope_cannot_manage_workflows(secured: SpindleServer, admin: SpindleClient) -> None:
    client_id, secret = create_client(admin, unique("workers"), ["worker"])
    with SpindleClient(secured.url, client_id=client_id, client_secret=secret) as c:
        with pytest.raises(ApiError) as info:
            c.deploy({"name": unique("nope"), "activities": [{"key": "a", "activity_name": "echo"}]})
    assert info.value.status_code == 403


def test_worker_with_client_credentials_serves_activities_next_to_the_std_worker(
    secured: SpindleServer, admin: SpindleClient
) -> None:
    client_id, secret = create_client(admin, unique("pool"), ["worker"])
    worker = Worker(
        config=WorkerConfig(api_url=secured.url, worker=unique("secure"), client_id=client_id, client_secret=secret)
    )

    @worker.activity("greet")
    async def greet(params: dict[str, Any]) -> dict[str, Any]:
        return {"text": f"hello {params['who']}"}

    name = unique("secure")
    admin.deploy(
        {
            "name": name,
            "activities": [
                {"key": "who", "activity_name": "echo", "parameters": {"who": "ada"}},
                {"key": "greet", "worker": worker.config.worker, "activity_name": "greet",
                 "parameters": {"who": "{{who.echo.who}}"}, "depends_on": ["who"]},
            ],
        }
    )
    with WorkerThread(worker):
        wf = admin.run(name, timeout=60)
        fetches = worker.token_fetches
    assert wf.status == "completed", wf.error_message
    assert wf.activity("greet").outputs == {"text": "hello ada"}
    assert fetches == 1


def test_py_std_process_authenticates_from_its_environment(
    secured: SpindleServer, admin: SpindleClient, tmp_path: Path
) -> None:
    client_id, secret = create_client(admin, unique("py-std"), ["worker"])
    routing = unique("py-secure")
    process = PyStdProcess(
        secured.url,
        tmp_path / "py-std.log",
        SPINDLE_WORKER=routing,
        SPINDLE_CLIENT_ID=client_id,
        SPINDLE_CLIENT_SECRET=secret,
        SPINDLE_PY_STD_WARM_PROCESSES="1",
    ).start()
    try:
        name = unique("pysecure")
        script = "import os\nOUTPUT = {'n': INPUT['n'] + 1, 'sees_secret': any('SECRET' in k for k in os.environ)}"
        admin.deploy(
            {
                "name": name,
                "activities": [
                    {"key": "s", "worker": routing, "activity_name": "script",
                     "parameters": {"script": script, "inputs": {"n": 1}}}
                ],
            }
        )
        wf = admin.run(name, timeout=60)
    finally:
        assert process.stop() == 0
    assert wf.status == "completed", wf.error_message
    assert wf.output("s") == {"n": 2, "sees_secret": False}
