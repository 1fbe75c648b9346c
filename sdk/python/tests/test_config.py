from __future__ import annotations

import re

import pytest

from spindle._backoff import Backoff
from spindle.py_std import create_worker
from spindle.worker import Worker, WorkerConfig
from spindle.worker.context import ActivityResult, Usage, format_money, parse_file_ref
from spindle.worker.runner import heartbeat_seconds_for_lease


def test_defaults_follow_the_protocol_table() -> None:
    cfg = WorkerConfig.from_env({"SPINDLE_API_URL": "http://h:8080/", "SPINDLE_WORKER": "payments"})
    assert cfg.api_url == "http://h:8080"
    assert cfg.worker == "payments"
    assert re.fullmatch(r"worker_[0-9a-f]{12}", cfg.worker_id)
    assert (cfg.max_concurrency, cfg.poll_batch_size, cfg.poll_wait_seconds) == (16, 10, 20)
    assert (cfg.poll_interval, cfg.activity_timeout, cfg.heartbeat_interval, cfg.shutdown_timeout) == (0.1, 300, 30, 30)
    assert cfg.client_id is None
    assert cfg.claim_next is True


def test_every_setting_is_read_from_spindle_variables() -> None:
    env = {
        "SPINDLE_API_URL": "http://h:1",
        "SPINDLE_CLIENT_ID": "id",
        "SPINDLE_CLIENT_SECRET": "secret",
        "SPINDLE_WORKER": "py-ml",
        "SPINDLE_WORKER_ID": "w-1",
        "SPINDLE_WORKER_POLL_MAX_ACTIVITIES": "5",
        "SPINDLE_WORKER_POLL_INTERVAL": "0.5",
        "SPINDLE_WORKER_POLL_WAIT_SECONDS": "7",
        "SPINDLE_WORKER_MAX_ACTIVITIES": "3",
        "SPINDLE_WORKER_ACTIVITY_TIMEOUT": "60s",
        "SPINDLE_WORKER_HEARTBEAT_INTERVAL": "4",
        "SPINDLE_WORKER_SHUTDOWN_TIMEOUT": "2.5",
        "SPINDLE_WORKER_CLAIM_NEXT": "false",
    }
    cfg = WorkerConfig.from_env(env)
    assert (cfg.client_id, cfg.client_secret, cfg.worker, cfg.worker_id) == ("id", "secret", "py-ml", "w-1")
    assert (cfg.poll_batch_size, cfg.poll_interval, cfg.poll_wait_seconds, cfg.max_concurrency) == (5, 0.5, 7, 3)
    assert (cfg.activity_timeout, cfg.heartbeat_interval, cfg.shutdown_timeout) == (60, 4, 2.5)
    assert cfg.claim_next is False
    assert "secret" not in repr(cfg)


def test_claim_next_is_switched_by_variable_keyword_or_worker_option(monkeypatch: pytest.MonkeyPatch) -> None:
    base = {"SPINDLE_API_URL": "http://h:1", "SPINDLE_WORKER": "a"}
    for text, expected in (("0", False), ("off", False), ("No", False), ("1", True), ("TRUE", True), ("on", True)):
        assert WorkerConfig.from_env({**base, "SPINDLE_WORKER_CLAIM_NEXT": text}).claim_next is expected, text
    assert WorkerConfig.from_env({**base, "KRUXIAFLOW_WORKER_CLAIM_NEXT": "0"}).claim_next is False
    assert WorkerConfig.from_env({**base, "SPINDLE_WORKER_CLAIM_NEXT": "1"}, claim_next=False).claim_next is False
    with pytest.raises(ValueError, match="SPINDLE_WORKER_CLAIM_NEXT must be true or false"):
        WorkerConfig.from_env({**base, "SPINDLE_WORKER_CLAIM_NEXT": "sometimes"})
    config = WorkerConfig(api_url="http://h:1", worker="a")
    assert Worker(config=config, claim_next=False).config.claim_next is False
    assert Worker(config=config).config.claim_next is True
    monkeypatch.setenv("SPINDLE_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SPINDLE_WORKER_CLAIM_NEXT", "off")
    assert create_worker().config.claim_next is False, "py-std reads it from its environment"


def test_batch_reports_is_off_by_default_and_switched_by_its_variable() -> None:
    base = {"SPINDLE_API_URL": "http://h:1", "SPINDLE_WORKER": "a"}
    assert WorkerConfig.from_env(base).batch_reports is False
    assert WorkerConfig.from_env({**base, "SPINDLE_WORKER_BATCH_REPORTS": "0"}).batch_reports is False
    assert WorkerConfig.from_env({**base, "SPINDLE_WORKER_BATCH_REPORTS": "on"}).batch_reports is True
    with pytest.raises(ValueError, match="SPINDLE_WORKER_BATCH_REPORTS must be true or false"):
        WorkerConfig.from_env({**base, "SPINDLE_WORKER_BATCH_REPORTS": "sometimes"})


def test_spindle_names_win_over_kruxiaflow_names_which_still_work() -> None:
    env = {"KRUXIAFLOW_API_URL": "http://old:1", "KRUXIAFLOW_WORKER": "legacy", "SPINDLE_WORKER": "new"}
    cfg = WorkerConfig.from_env(env)
    assert cfg.api_url == "http://old:1"
    assert cfg.worker == "new"


def test_keyword_overrides_beat_the_environment() -> None:
    cfg = WorkerConfig.from_env({"SPINDLE_API_URL": "http://h:1", "SPINDLE_WORKER": "a"}, worker="b", max_concurrency=2)
    assert (cfg.worker, cfg.max_concurrency) == ("b", 2)


def test_py_std_defaults_to_its_routing_key_and_reads_worker_type(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SPINDLE_WORKER", "KRUXIAFLOW_WORKER", "SPINDLE_WORKER_TYPE", "KRUXIAFLOW_WORKER_TYPE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPINDLE_API_URL", "http://127.0.0.1:9")
    assert create_worker().config.worker == "py-std"
    monkeypatch.setenv("KRUXIAFLOW_WORKER_TYPE", "py-data")
    worker = create_worker()
    assert worker.config.worker == "py-data"
    assert worker.registry.names == ("script",)


def test_missing_url_or_routing_key_and_bad_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="SPINDLE_API_URL"):
        WorkerConfig.from_env({"SPINDLE_WORKER": "x"})
    with pytest.raises(ValueError, match="SPINDLE_WORKER"):
        WorkerConfig.from_env({"SPINDLE_API_URL": "http://h:1"})
    with pytest.raises(ValueError, match="poll_batch_size"):
        WorkerConfig(api_url="http://h:1", worker="x", poll_batch_size=101)
    with pytest.raises(ValueError, match="integer"):
        WorkerConfig.from_env({"SPINDLE_API_URL": "http://h:1", "SPINDLE_WORKER": "x", "SPINDLE_WORKER_MAX_ACTIVITIES": "many"})
    with pytest.raises(TypeError, match="unknown worker option"):
        WorkerConfig.from_env({"SPINDLE_API_URL": "http://h:1", "SPINDLE_WORKER": "x"}, concurrency=3)


def test_heartbeat_interval_is_half_the_lease_within_1_and_30_seconds() -> None:
    assert [heartbeat_seconds_for_lease(s) for s in (1, 3, 10, 40, 60, 120, 600)] == [1, 1, 5, 20, 30, 30, 30]


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    b = Backoff(initial_seconds=0.2, max_seconds=5, factor=2, jitter=0.5)
    assert [b.capped(n) for n in range(6)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5]
    assert b.delay(3, sample=0.0) == pytest.approx(0.8)
    assert b.delay(3, sample=1.0) == pytest.approx(1.6)
    samples = {round(b.delay(2), 6) for _ in range(50)}
    assert len(samples) > 1 and all(0.4 <= s <= 0.8 for s in samples)


def test_money_and_usage_lines_are_formatted_for_the_wire() -> None:
    assert format_money(0.015) == "0.015"
    assert format_money("0.0021") == "0.0021"
    with pytest.raises(ValueError):
        format_money(-1)
    line = Usage(provider="anthropic", model="claude-haiku-4-5", input_tokens=1200, output_tokens=150, cost_usd="0.0021")
    assert line.to_json() == {
        "provider": "anthropic",
        "model": "claude-haiku-4-5",
        "input_tokens": 1200,
        "output_tokens": 150,
        "cache_read_tokens": 0,
        "cache_creation_tokens": 0,
        "cost_usd": "0.0021",
    }
    with pytest.raises(TypeError):
        ActivityResult(output=[1, 2])  # type: ignore[arg-type]


def test_file_references_are_parsed() -> None:
    assert parse_file_ref("postgres://wf-1/report/summary.csv") == ("wf-1", "report", "summary.csv")
    with pytest.raises(ValueError):
        parse_file_ref("s3://bucket/key")


def test_bare_decorator_registers_a_function_under_its_own_name() -> None:
    worker = Worker(config=WorkerConfig(api_url="http://127.0.0.1:9", worker="tools"))

    @worker.activity
    def resize(params: dict[str, int]) -> dict[str, int]:
        return {"w": params["w"] // 2}

    @worker.activity("thumbnail")
    async def make_thumbnail(params: dict[str, int]) -> None:
        return None

    assert worker.registry.names == ("resize", "thumbnail")
    assert resize({"w": 8}) == {"w": 4}, "the decorator returns the function unchanged"
    with pytest.raises(ValueError, match="already registered"):
        worker.register("resize", lambda: None)
