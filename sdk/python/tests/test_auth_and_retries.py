"""Bearer tokens (docs/worker-protocol.md) and retried HTTP failures, through :class:`support.TokenGateway`: a local
token endpoint and an authenticating pass-through in front of the real server. It makes the timing cases exact
(two-second tokens, a token revoked mid-run, a burst of 503s); test_secured_server.py covers the server's own
token endpoint."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from spindle import AsyncSpindleClient, AuthenticationError, SpindleClient, Worker, WorkerConfig
from spindle.worker import ActivityContext
from support import PyStdProcess, SpindleServer, TokenGateway, WorkerThread, unique


def test_token_is_fetched_lazily_and_once_for_concurrent_calls(server: SpindleServer) -> None:
    with TokenGateway(server.url) as gateway:

        async def scenario() -> int:
            async with AsyncSpindleClient(gateway.url, client_id="worker-client", client_secret="s3cret") as c:
                assert c.token_fetches == 0
                pages = await asyncio.gather(*(c.list_workflows(limit=1) for _ in range(10)))
                assert all(page.limit == 1 for page in pages)
                return c.token_fetches

        assert asyncio.run(scenario()) == 1
        assert gateway.issued == 1
        assert gateway.rejected == 0
        assert all(h and h.startswith("Bearer tok-1-") for h in gateway.authorization_headers)


def test_token_is_refreshed_before_it_expires(server: SpindleServer) -> None:
    with TokenGateway(server.url, expires_in=2) as gateway:
        with SpindleClient(gateway.url, client_id="worker-client", client_secret="s3cret") as c:
            c.list_workflows(limit=1)
            time.sleep(1.9)
            c.list_workflows(limit=1)
            assert c.token_fetches == 2
        assert gateway.rejected == 0


def test_rejected_token_is_dropped_and_the_call_repeated_once_with_a_new_one(server: SpindleServer) -> None:
    with TokenGateway(server.url) as gateway:
        with SpindleClient(gateway.url, client_id="worker-client", client_secret="s3cret") as c:
            c.list_workflows(limit=1)
            gateway.revoke_all()
            page = c.list_workflows(limit=1)
            assert page.limit == 1
            assert c.token_fetches == 2
        assert gateway.rejected == 1


def test_bad_credentials_fail_with_a_clear_authentication_error(server: SpindleServer) -> None:
    with TokenGateway(server.url) as gateway:
        with SpindleClient(gateway.url, client_id="worker-client", client_secret="wrong") as c:
            with pytest.raises(AuthenticationError) as info:
                c.list_workflows()
        assert info.value.status_code == 401
        assert "Invalid client credentials" in str(info.value)
        assert gateway.issued == 0


def test_without_credentials_no_token_is_fetched_or_sent(server: SpindleServer) -> None:
    with TokenGateway(server.url, require_token=False) as gateway:
        with SpindleClient(gateway.url) as c:
            c.list_workflows(limit=1)
            assert c.token_fetches == 0
        assert gateway.authorization_headers == [None]


def test_worker_authenticates_and_recovers_when_its_token_is_revoked(server: SpindleServer, client: SpindleClient) -> None:
    with TokenGateway(server.url) as gateway:
        worker = Worker(
            config=WorkerConfig(
                api_url=gateway.url, worker=unique("pyauth"), client_id="worker-client", client_secret="s3cret"
            )
        )

        @worker.activity("rotate")
        def rotate(params: dict[str, Any]) -> dict[str, Any]:
            # As if the server's keys were rotated while the activity ran: its result is reported with a dead token.
            gateway.revoke_all()
            return {"rotated": True}

        worker.register("after", lambda: {"after": True})
        key = worker.config.worker
        name = unique("auth")
        client.deploy(
            {
                "name": name,
                "activities": [
                    {"key": "a", "worker": key, "activity_name": "rotate"},
                    {"key": "b", "worker": key, "activity_name": "after", "depends_on": ["a"]},
                ],
            }
        )
        with WorkerThread(worker):
            wf = client.run(name, timeout=60)
            fetches = worker.token_fetches
        assert wf.status == "completed"
        assert wf.activity("b").outputs == {"after": True}
        assert fetches == 2
        assert gateway.rejected >= 1


def test_poll_and_report_failures_are_retried_with_backoff(server: SpindleServer, client: SpindleClient) -> None:
    with TokenGateway(server.url, require_token=False) as gateway:
        gateway.fail_next = 4  # the first polls meet a 503
        worker = Worker(config=WorkerConfig(api_url=gateway.url, worker=unique("pyretry")))

        @worker.activity("step")
        def step(params: dict[str, Any], ctx: ActivityContext) -> dict[str, Any]:
            gateway.fail_next = 2  # ...and so do the first two attempts to report this result
            return {"attempt": ctx.attempt}

        name = unique("retry")
        client.deploy({"name": name, "activities": [{"key": "s", "worker": worker.config.worker, "activity_name": "step"}]})
        submitted = client.submit(name)
        with WorkerThread(worker):
            wf = client.wait(submitted.workflow_id, timeout=60)
        assert wf.status == "completed"
        assert wf.activity("s").outputs == {"attempt": 1}, "the worker repeated the report; the server saw one attempt"
        assert gateway.failures_sent == 6
        assert worker.stats.completed == 1


def test_py_std_worker_uses_its_credentials_but_scripts_never_see_them(
    server: SpindleServer, client: SpindleClient, tmp_path: Path
) -> None:
    with TokenGateway(server.url) as gateway:
        routing = unique("py-auth")
        process = PyStdProcess(
            gateway.url,
            tmp_path / "py-std-auth.log",
            SPINDLE_WORKER=routing,
            SPINDLE_CLIENT_ID="worker-client",
            SPINDLE_CLIENT_SECRET="s3cret",
            SPINDLE_PY_STD_WARM_PROCESSES="1",
        ).start()
        try:
            name = unique("creds")
            script = (
                "import os\n"
                "OUTPUT = {'visible': sorted(k for k in os.environ if 'CLIENT' in k or 'TOKEN' in k),"
                " 'api': 'SPINDLE_API_URL' in os.environ}"
            )
            client.deploy(
                {
                    "name": name,
                    "activities": [
                        {"key": "s", "worker": routing, "activity_name": "script", "parameters": {"script": script}}
                    ],
                }
            )
            wf = client.run(name, timeout=60)
        finally:
            assert process.stop() == 0
        assert wf.status == "completed", wf.error_message
        # Scripts get an allow-listed environment: none of the worker's settings, credentials or not.
        assert wf.output("s") == {"visible": [], "api": False}
        assert gateway.issued == 1
        assert gateway.rejected == 0
