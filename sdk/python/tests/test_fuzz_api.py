"""Fuzzes every HTTP route of a real server (token auth on) with generated requests; none may answer 5xx.

The routes come from the server's own sources (every ``Map{Get,Post,Delete}`` call), so a new route is fuzzed
without touching this file. Requests are generated with Hypothesis (Debian's ``python3-hypothesis``) from a fixed
seed (``derandomize``), so every run sends the same requests: valid-ish bodies per route with one field made
hostile, and hostile bodies outright (wrong types, huge numbers, unicode, lone surrogates, deep nesting, duplicate
keys), odd headers, odd query strings, path ids that exist and ones that do not, with admin, workflows, worker,
missing and garbage tokens. They are generated first and then sent from a few threads, since the token endpoint
deliberately pauses on bad credentials. Afterwards the server must still be healthy and run a workflow.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from spindle import SpindleClient, Worker, WorkerConfig
from support import REPO_ROOT, SpindleServer, WorkerThread, unique

REQUESTS = 5000
SENDERS = 6

#: Tags of inputs whose parsing belongs to RequestBody.cs (duplicate keys, nesting beyond its depth limit): checked
#: by their own test so that the rest of the fuzz result stands on its own.
BODY_PARSER_TAGS = frozenset({"duplicate-keys", "deep"})


# --- the routes ------------------------------------------------------------------------------------------------

_MAP = re.compile(r'\b(?:app|api|clients)\.Map(Get|Post|Delete|Put|Patch)\(\s*(?:"([^"]*)"|(Route))')


def server_routes() -> list[tuple[str, str]]:
    """(method, path template) of every endpoint the server maps, read from its sources."""
    routes: set[tuple[str, str]] = set()
    for source in (REPO_ROOT / "src" / "Spindle.Server").rglob("*.cs"):
        text = source.read_text()
        route_const = re.search(r'const string Route = "([^"]*)"', text)
        group = re.search(r'MapGroup\("(/[^"]*)"\)', text)
        for method, literal, const in _MAP.findall(text):
            template = route_const.group(1) if const and route_const else literal
            if source.name == "SystemApi.cs":
                path = template
            elif group and "clients." in text and source.name == "ClientsApi.cs":
                path = "/api/v1" + group.group(1) + template
            else:
                path = "/api/v1" + template
            routes.add((method.upper(), path))
    return sorted(routes)


# --- the server and its fixtures ---------------------------------------------------------------------------------


@dataclass
class Target:
    server: SpindleServer
    tokens: dict[str, str]
    worker_credentials: tuple[str, str]
    definition: str
    workflow_id: str
    activity_id: str
    activity_key: str
    spare_client_id: str
    results: list[Result] = field(default_factory=list)


@dataclass
class Result:
    method: str
    route: str
    url: str
    status: int
    tags: tuple[str, ...]
    body: str
    answer: str
    #: Kestrel's own refusal of an unparsable request (e.g. %00 in the path): empty body, connection closed.
    refused_by_kestrel: bool = False


def _token(url: str, client_id: str, secret: str) -> str:
    response = httpx.post(
        f"{url}/api/v1/oauth/token",
        json={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def _create_client(url: str, admin: str, scopes: str) -> tuple[str, str]:
    response = httpx.post(
        f"{url}/api/v1/clients", json={"name": unique("fuzz"), "scopes": scopes},
        headers={"Authorization": f"Bearer {admin}"}, timeout=30,
    )
    response.raise_for_status()
    body = response.json()
    return body["client_id"], body["client_secret"]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    server = SpindleServer(data_dir=tmp_path_factory.mktemp("fuzz"), insecure=False)
    server.start()
    try:
        url = server.url
        admin = _token(url, *server.admin_credentials())
        workflows_token = _token(url, *_create_client(url, admin, "workflows"))
        worker_credentials = _create_client(url, admin, "worker")
        worker_token = _token(url, *worker_credentials)
        spare_client_id, _ = _create_client(url, admin, "workflows")  # the one existing id DELETE may revoke
        auth = {"Authorization": f"Bearer {admin}"}
        definition = unique("fuzz_def")
        queue = unique("fuzzq")
        deployed = httpx.post(f"{url}/api/v1/workflow_definitions", headers=auth, timeout=30, json={
            "name": definition,
            "activities": [
                {"key": "first", "activity_name": "echo", "parameters": {"text": "hi"}},
                {"key": "held", "worker": queue, "activity_name": "anything", "depends_on": ["first"]},
            ],
        })
        assert deployed.status_code in (200, 201), deployed.text
        submitted = httpx.post(f"{url}/api/v1/workflows", headers=auth, timeout=30,
                               json={"definition_name": definition, "input": {"text": "hi"}})
        assert submitted.status_code == 201, submitted.text
        workflow_id = submitted.json()["workflow_id"]
        activity_id = ""
        deadline = time.monotonic() + 30
        while not activity_id and time.monotonic() < deadline:
            polled = httpx.post(f"{url}/api/v1/workers/poll", timeout=30, headers={"Authorization": f"Bearer {worker_token}"},
                                json={"worker": queue, "worker_id": "fuzz-worker", "max_activities": 1})
            activities = polled.json().get("activities") or []
            activity_id = activities[0]["activity_id"] if activities else ""
            time.sleep(0 if activity_id else 0.1)
        assert activity_id, "the fuzz target's activity was never claimable"
        yield Target(
            server=server,
            tokens={"admin": admin, "workflows": workflows_token, "worker": worker_token},
            worker_credentials=worker_credentials,
            definition=definition,
            workflow_id=workflow_id,
            activity_id=activity_id,
            activity_key="held",
            spare_client_id=spare_client_id,
        )
    finally:
        server.stop()


# --- generated requests -----------------------------------------------------------------------------------------

LONE_SURROGATES = ["\ud800", "\udfff", "a\ud83d", "\ude00b"]
HOSTILE_TEXT = ["", " ", "null", "0", "-1", "1e309", "NaN", "\u0000", "\u202e\u0635", "\U0001f600" * 50, "../..", "%00",
                "{{input.x}}", "' OR 1=1 --", "a" * 70_000, "\t\n\r"] + LONE_SURROGATES

json_scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([0, -1, 2**31, 2**63, -(2**63) - 1, 10**18, 1e308, -1e-308, 0.5]),
    st.text(max_size=40),
    st.sampled_from(HOSTILE_TEXT),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)),
    max_leaves=12,
)


def template(method: str, route: str, t: Target) -> dict[str, Any] | None:
    """A plausible body for the route, which the generator then damages."""
    worker_id = "fuzz-worker"
    if route.endswith("/oauth/token"):
        return {"grant_type": "client_credentials", "client_id": t.worker_credentials[0], "client_secret": "wrong"}
    if route.endswith("/workflow_definitions"):
        return {"name": unique("fz"), "activities": [{"key": "a", "activity_name": "echo", "parameters": {"x": 1}}]}
    if route.endswith("/workflows") or route.endswith("/workflows/start"):
        return {"definition_name": t.definition, "input": {"text": "x"}}
    if route.endswith("/signal"):
        return {"activity_key": "held", "event_name": "go", "data": {}}
    if route.endswith("/cancel"):
        return {"reason": "fuzz"}
    if route.endswith("/cache/invalidate"):
        return {"pattern": "fuzz*"}
    if route.endswith("/models/search"):
        return {"capabilities": ["chat"], "max_input_cost_per_1k": 1}
    if route.endswith("/workers/poll"):
        return {"worker": unique("fuzz-empty"), "worker_id": worker_id, "max_activities": 1}
    if route.endswith("/heartbeat"):
        return {"worker_id": worker_id}
    if route.endswith("/complete"):
        return {"worker_id": worker_id, "output": {"x": 1}, "cost_usd": "0.01"}
    if route.endswith("/fail"):
        return {"worker_id": worker_id, "error": {"code": "E", "message": "m", "retryable": True}}
    if route.endswith("/clients"):
        return {"name": "fz", "scopes": "worker"}
    return {} if method == "POST" else None


@dataclass
class Spec:
    method: str
    route: str
    url: str
    headers: dict[str, bytes]
    body: bytes | None
    tags: tuple[str, ...]


def _quote(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def _dumps(value: Any, ascii_only: bool) -> str:
    try:
        text = json.dumps(value, ensure_ascii=ascii_only)
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True)  # lone surrogates go out as \ud800 escapes


@st.composite
def requests(draw: st.DrawFn, routes: list[tuple[str, str]], t: Target) -> Spec:
    method, route = draw(st.sampled_from(routes))
    tags: list[str] = []
    sent_method = method
    if draw(st.integers(0, 20)) == 0:
        sent_method = draw(st.sampled_from(["PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "FOO", "GET", "POST"]))

    # Path parameters: ids that exist, ids that do not, and garbage.
    ids = {
        "id": [t.workflow_id, str(uuid.uuid4()), "not-a-uuid", t.workflow_id.upper()],
        "key": [t.activity_key, "first", "missing"],
        "activityId": [t.activity_id, str(uuid.uuid4())],
        "name": [t.definition, "missing_def"],
        "clientId": [t.spare_client_id, "cl_missing"],
        "filename": ["report.csv", ".hidden", "a" * 300],
    }
    path = route
    for name in re.findall(r"{(\w+)}", route):
        choice = draw(st.one_of(st.sampled_from(ids.get(name, ["x"])), st.sampled_from(HOSTILE_TEXT[:13] + LONE_SURROGATES),
                                st.text(min_size=1, max_size=20)))
        if choice in ("", "..", "."):
            choice = "x" + choice
        path = path.replace("{" + name + "}", _quote(choice) if choice not in ("../..",) else "..%2F..")

    # Query strings: the route's own knobs with odd values, odd keys, repeats and broken escapes.
    query_keys = ["limit", "offset", "status", "definition_name", "created_after", "created_before", "after",
                  "event_type", "start_date", "end_date", "group_by", "version", "worker_id", "x"]
    query_values = st.one_of(st.sampled_from(["0", "-1", "1", "1000001", "99999999999999999999", "1e5", "true",
                                               "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-02-30", "day",
                                               "workflow", "completed", "%zz", "fuzz-worker"]),
                             st.sampled_from(HOSTILE_TEXT[:13] + LONE_SURROGATES), st.text(max_size=15))
    pairs = draw(st.lists(st.tuples(st.sampled_from(query_keys), query_values), max_size=3))
    query = "&".join(f"{_quote(k)}={v if v == '%zz' else _quote(v)}" for k, v in pairs)
    if draw(st.integers(0, 20)) == 0:
        query += draw(st.sampled_from(["&&", "=", "a", "%", "a=%ff%fe", "a[]=1&a[]=2", ";;"]))

    # Headers.
    headers: dict[str, bytes] = {}
    auth = draw(st.sampled_from(["admin", "workflows", "worker", "admin", "worker", "workflows", "none", "garbage"]))
    if auth in t.tokens:
        headers["authorization"] = f"Bearer {t.tokens[auth]}".encode()
    elif auth == "garbage":
        headers["authorization"] = draw(st.sampled_from([
            b"Bearer", b"Bearer  x", b"Basic Zm9vOmJhcg==", b"Bearer a.b.c", b"Bearer " + b"A" * 9000,
            b"bearer eyJhbGciOiJub25lIn0.eyJleHAiOjFlMTh9.", "Bearer \u00e9".encode(),
        ]))
    content_type = draw(st.sampled_from([
        "application/json", "application/json", "application/json", None, "text/plain", "application/yaml",
        "application/x-www-form-urlencoded", "multipart/form-data; boundary=zz", "multipart/form-data",
        "application/json; charset=utf-16", "application/merge-patch+json", "*/*",
    ]))
    if content_type is not None:
        headers["content-type"] = content_type.encode()
    if draw(st.booleans()):
        headers["x-request-id"] = draw(st.sampled_from(["fz-1", "h\u00e9llo", "\u4e16\u754c", "x" * 5000, "a b"])).encode()
    if draw(st.integers(0, 10)) == 0:
        headers[draw(st.sampled_from(["accept", "x-forwarded-for", "origin", "if-none-match"]))] = \
            draw(st.sampled_from(["\u00ff\u00fe", "*/*;q=abc", "999.999.999.999", "null"])).encode("utf-8")

    # Body.
    body: bytes | None = None
    if method in ("POST", "PUT", "PATCH") or draw(st.integers(0, 10)) == 0:
        base = template(method, route, t)
        kind = draw(st.sampled_from(["valid-ish", "one-field", "one-field", "random-json", "surrogate", "duplicate-keys",
                                     "deep", "garbage", "empty", "form"]))
        tags.append(kind)
        ascii_only = draw(st.booleans())
        if kind == "valid-ish":
            text = _dumps(base if base is not None else {}, ascii_only)
        elif kind == "one-field":
            doc = dict(base or {})
            name = draw(st.sampled_from(sorted(doc) or ["x"]) | st.text(max_size=8))
            doc[name] = draw(json_values)
            text = _dumps(doc, ascii_only)
        elif kind == "random-json":
            text = _dumps(draw(json_values), ascii_only)
        elif kind == "surrogate":
            doc = dict(base or {"x": 1})
            name = draw(st.sampled_from(sorted(doc)))
            if draw(st.booleans()):
                doc[name] = draw(st.sampled_from(LONE_SURROGATES))
            else:
                doc[draw(st.sampled_from(LONE_SURROGATES))] = doc.pop(name)
            text = _dumps(doc, True)
        elif kind == "duplicate-keys":
            doc = dict(base or {"x": 1})
            name = draw(st.sampled_from(sorted(doc)))
            inner = _dumps(doc, ascii_only)
            text = "{" + json.dumps(name) + ":" + _dumps(draw(json_values), ascii_only) + ("," if len(inner) > 2 else "") + inner[1:]
        elif kind == "deep":
            depth = draw(st.sampled_from([64, 255, 257, 1000, 20_000]))
            opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
            text = opener * depth + "1" + closer * depth
            if base is not None and draw(st.booleans()):
                doc = dict(base)
                field_name = draw(st.sampled_from(sorted(doc) or ["x"]))
                doc[field_name] = 0
                text = _dumps(doc, True).replace(f"{json.dumps(field_name)}: 0", f"{json.dumps(field_name)}: {text}", 1)
        elif kind == "garbage":
            text = draw(st.sampled_from(["{", "}", "[1,]", "{'a':1}", "\u00ff", "NaN", "Infinity", "1e99999", "a: [b",
                                         "- *x\n", "&a [*a, *a]", "{\"a\":1}garbage", "\x00\x01"])) \
                + draw(st.text(max_size=20))
        elif kind == "form":
            text = "&".join(f"{_quote(k)}={_quote(str(v))}" for k, v in (base or {"a": "b"}).items()) + draw(st.sampled_from(["", "&%zz", "&a=\u00e9"]))
        else:
            text = ""
        body = text.encode("utf-8", "surrogatepass")

    url = path + (("?" + query) if query else "")
    return Spec(sent_method, route, url, headers, body, tuple(tags))


def generate(routes: list[tuple[str, str]], t: Target, count: int) -> list[Spec]:
    specs: list[Spec] = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(spec=requests(routes, t))
    def collect(spec: Spec) -> None:
        specs.append(spec)

    collect()
    return specs


def _refused_before_the_body(http: httpx.Client, spec: Spec, status: int, answer: str) -> tuple[int, str, bool]:
    """Kestrel refuses a bad request line (a path with %00, say) with an empty 400 and closes the connection without
    reading the body, so the client may still be writing it and see a broken pipe. The same request without its body
    tells that refusal apart from a server that failed: it gets that empty 400 again."""
    try:
        probe = http.request(spec.method, spec.url, headers=spec.headers)
    except httpx.HTTPError:
        return status, answer, False
    if probe.status_code == 400 and not probe.content and probe.headers.get("connection") == "close":
        return 400, "", True
    return status, answer, False


def send(t: Target, specs: list[Spec]) -> list[Result]:
    def worker(chunk: list[Spec]) -> list[Result]:
        out: list[Result] = []
        with httpx.Client(base_url=t.server.url, timeout=60) as http:
            for spec in chunk:
                try:
                    with http.stream(spec.method, spec.url, headers=spec.headers, content=spec.body) as response:
                        status = response.status_code
                        if response.headers.get("content-type", "").startswith("text/event-stream"):
                            # A live stream never ends (pings keep it open): its status and headers are the answer.
                            answer, refused = "(event stream)", False
                        else:
                            response.read()
                            answer = response.text[:300]
                            refused = not response.content and response.headers.get("connection") == "close"
                except httpx.HTTPError as exc:
                    status, answer, refused = 0, f"{type(exc).__name__}: {exc}", False
                    if spec.body:
                        status, answer, refused = _refused_before_the_body(http, spec, status, answer)
                out.append(Result(spec.method, spec.route, spec.url[:200], status, spec.tags,
                                  (spec.body or b"")[:200].decode("utf-8", "replace"), answer, refused))
        return out

    chunks = [specs[i::SENDERS] for i in range(SENDERS)]
    with ThreadPoolExecutor(SENDERS) as pool:
        return [r for part in pool.map(worker, chunks) for r in part]


# --- the tests --------------------------------------------------------------------------------------------------


def test_worker_uploads_its_files_under_the_lease(target: Target, tmp_path: Path) -> None:
    """The Python SDK's uploads name the worker that holds the lease, so files of a running activity are accepted."""
    client_id, secret = target.worker_credentials
    worker = Worker(config=WorkerConfig(api_url=target.server.url, worker=unique("fuzz-files"),
                                        client_id=client_id, client_secret=secret))
    produced = tmp_path / "report.csv"
    produced.write_text("a,b\n1,2\n")

    @worker.activity("render")
    async def render(params: dict[str, Any], ctx: Any) -> dict[str, Any]:
        return {"report": await ctx.upload_file(produced, "report.csv", "text/csv")}

    name = unique("fuzz_files")
    admin_id, admin_secret = target.server.admin_credentials()
    with SpindleClient(target.server.url, client_id=admin_id, client_secret=admin_secret) as admin:
        admin.deploy({"name": name, "activities": [{"key": "render", "worker": worker.config.worker,
                                                    "activity_name": "render",
                                                    "outputs": [{"name": "report.csv", "type": "file"}]}]})
        with WorkerThread(worker):
            wf = admin.run(name, timeout=60)
        assert wf.status == "completed", wf.error_message
        output = admin.activity_output(wf.id, "render")
    assert [f["filename"] for f in output.files] == ["report.csv"]
    download = httpx.get(f"{target.server.url}/api/v1/workflows/{wf.id}/activities/render/files/report.csv",
                         headers={"Authorization": f"Bearer {target.tokens['workflows']}"}, timeout=30)
    assert download.content == b"a,b\n1,2\n"
    late = httpx.post(f"{target.server.url}/api/v1/workflows/{wf.id}/activities/render/files/report.csv",
                      params={"worker_id": worker.config.worker_id}, content=b"changed",
                      headers={"Authorization": f"Bearer {target.tokens['worker']}"}, timeout=30)
    assert late.status_code == 409, late.text


def test_fuzz_every_route_answers_without_5xx_and_the_server_stays_healthy(target: Target) -> None:
    routes = server_routes()
    assert len(routes) >= 30, routes
    specs = generate(routes, target, REQUESTS)
    assert len(specs) >= REQUESTS
    assert {(s.method, s.route) for s in specs} >= set(routes), "some route was never fuzzed"
    target.results = send(target, specs)

    counted = [r for r in target.results if not BODY_PARSER_TAGS.intersection(r.tags)]
    failures = [r for r in counted if r.status >= 500 or r.status == 0]
    assert not failures, f"{len(failures)} requests answered 5xx or no answer; first ones:\n" + "\n".join(
        f"{r.status} {r.method} {r.url} tags={r.tags} body={r.body!r} -> {r.answer}" for r in failures[:15])
    no_envelope = [r for r in counted if 400 <= r.status < 500 and '"error"' not in r.answer and not r.refused_by_kestrel]
    assert not no_envelope, "4xx without the error envelope:\n" + "\n".join(
        f"{r.status} {r.method} {r.url} -> {r.answer!r}" for r in no_envelope[:15])

    url = target.server.url
    assert httpx.get(f"{url}/health", timeout=30).json()["status"] == "ok"
    auth = {"Authorization": f"Bearer {target.tokens['workflows']}"}
    name = unique("after_fuzz")
    deployed = httpx.post(f"{url}/api/v1/workflow_definitions", headers=auth, timeout=30, json={
        "name": name, "activities": [{"key": "say", "activity_name": "echo", "parameters": {"text": "still here"}}]})
    assert deployed.status_code in (200, 201), deployed.text
    submitted = httpx.post(f"{url}/api/v1/workflows", headers=auth, timeout=30, json={"definition_name": name})
    assert submitted.status_code == 201, submitted.text
    workflow_id = submitted.json()["workflow_id"]
    deadline = time.monotonic() + 60
    status = ""
    while time.monotonic() < deadline and status != "completed":
        status = httpx.get(f"{url}/api/v1/workflows/{workflow_id}", headers=auth, params={"wait_seconds": 5},
                           timeout=30).json()["status"]
    assert status == "completed"


@pytest.mark.parametrize("framing", [
    b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc\r\n0\r\n\r\n",
    b"Transfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\nabc\r\n0\r\n\r\n",
    b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    b"Transfer-Encoding: chunked\r\n\r\n3;ext=\xff\r\nabc\r\n0\r\n\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    b"Content-Length: -1\r\n\r\n",
    b"Content-Length: 99999999999999999999\r\n\r\n",
    b"Content-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
])
def test_malformed_framing_answers_4xx(target: Target, framing: bytes) -> None:
    """Bodies whose HTTP framing is broken (beyond what a client library would send) get a 4xx, never a 5xx."""
    import socket

    with socket.create_connection(("127.0.0.1", target.server.port), timeout=30) as sock:
        sock.sendall(b"POST /api/v1/workflows HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
                     + f"Authorization: Bearer {target.tokens['workflows']}\r\n".encode() + framing)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    assert 400 <= status < 500, answer[:300]


def test_fuzz_duplicate_keys_and_deep_nesting_answer_without_5xx(target: Target) -> None:
    if not target.results:
        pytest.skip("the fuzz run did not happen")
    parsed = [r for r in target.results if BODY_PARSER_TAGS.intersection(r.tags)]
    assert parsed
    failures = [r for r in parsed if r.status >= 500 or r.status == 0]
    assert not failures, f"{len(failures)} of {len(parsed)} answered 5xx:\n" + "\n".join(
        f"{r.status} {r.method} {r.url} tags={r.tags} body={r.body!r} -> {r.answer}" for r in failures[:10])
