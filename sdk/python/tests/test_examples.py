"""The two example workflows that mix std and py-std steps, run end to end."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from spindle import SpindleClient
from support import REPO_ROOT, PyStdProcess

SALES = REPO_ROOT / "examples" / "10-sales-etl.yaml"
CHURN = REPO_ROOT / "examples" / "11-churn-prediction.yaml"

RAW_ORDERS: list[dict[str, Any]] = [
    {"order_id": "A1", "customer": "C1", "region": "emea", "currency": "EUR", "amount": "1,000.00", "quantity": 1, "ordered_at": "2026-01-15"},
    {"order_id": "A1", "customer": "C1", "region": "emea", "currency": "EUR", "amount": "1,000.00", "quantity": 1, "ordered_at": "2026-01-15"},
    {"order_id": "A2", "customer": "C2", "region": " Americas", "currency": "usd", "amount": 250.5, "quantity": 2, "ordered_at": "03/02/2026"},
    {"order_id": "A3", "customer": "C1", "region": "Asia ", "currency": "GBP", "amount": "$100", "quantity": 1, "ordered_at": "2026-02-20"},
    {"order_id": "A4", "customer": "", "region": "emea", "currency": "USD", "amount": 10, "quantity": 1, "ordered_at": "2026-02-21"},
    {"order_id": "A5", "customer": "C3", "region": "mars", "currency": "USD", "amount": 10, "quantity": 1, "ordered_at": "2026-02-21"},
    {"order_id": "A6", "customer": "C3", "region": "na", "currency": "USD", "amount": None, "quantity": 1, "ordered_at": "2026-02-21"},
    {"order_id": "A7", "customer": "C3", "region": "na", "currency": "USD", "amount": 99.99, "quantity": -1, "ordered_at": "2026-02-21"},
    {"order_id": "A8", "customer": "C2", "region": "europe", "currency": "USD", "amount": 20, "quantity": 3, "ordered_at": "2026-02-01"},
]


def test_sales_etl_cleans_aggregates_and_summarises_given_orders(py_std: PyStdProcess, client: SpindleClient) -> None:
    name = client.deploy(SALES).name
    wf = client.run(name, {"orders": RAW_ORDERS}, timeout=180)
    assert wf.status == "completed", wf.error_message
    clean = wf.output("clean")
    assert clean["stats"] == {"rows_in": 9, "duplicates": 1, "rejected": 4, "rows_out": 4}
    assert {o["order_id"]: (o["region"], o["amount_usd"], o["ordered_at"]) for o in clean["orders"]} == {
        "A1": ("EMEA", 1080.0, "2026-01-15"),
        "A2": ("AMER", 250.5, "2026-02-03"),
        "A3": ("APAC", 127.0, "2026-02-20"),
        "A8": ("EMEA", 20.0, "2026-02-01"),
    }
    aggregate = wf.output("aggregate")
    assert aggregate["by_region"] == [
        {"region": "EMEA", "orders": 2, "revenue_usd": 1100.0},
        {"region": "AMER", "orders": 1, "revenue_usd": 250.5},
        {"region": "APAC", "orders": 1, "revenue_usd": 127.0},
    ]
    assert aggregate["by_month"] == [
        {"month": "2026-01", "orders": 1, "revenue_usd": 1080.0},
        {"month": "2026-02", "orders": 3, "revenue_usd": 397.5},
    ]
    assert aggregate["engine"].split()[0] in ("duckdb", "sqlite3")
    summary = wf.output("summarise")
    assert summary == {
        "total_revenue_usd": 1477.5,
        "orders": 4,
        "best_region": "EMEA",
        "month_over_month_pct": -63.2,
        "top_customer": "C1",
        "engine": aggregate["engine"],
        "headline": "4 clean orders (1 duplicates, 4 bad rows removed); revenue 1,477.50 USD, best region EMEA",
    }
    published = wf.output("publish", "echo")
    assert published["text"] == summary["headline"] and published["report"] == summary


def test_sales_etl_on_generated_orders_agrees_with_a_plain_python_recount(
    py_std: PyStdProcess, client: SpindleClient
) -> None:
    name = client.deploy(SALES).name
    wf = client.run(name, {"n_orders": 300, "seed": 11}, timeout=180)
    assert wf.status == "completed", wf.error_message
    raw = wf.output("extract")["orders"]
    clean = wf.output("clean")
    stats = clean["stats"]
    assert stats["rows_in"] == len(raw)
    assert stats["duplicates"] == len(raw) - len({r["order_id"] for r in raw}) > 0
    assert stats["rows_out"] == len(clean["orders"]) == stats["rows_in"] - stats["duplicates"] - stats["rejected"]
    assert stats["rejected"] > 0
    revenue: dict[str, float] = defaultdict(float)
    for order in clean["orders"]:
        assert order["region"] in {"EMEA", "AMER", "APAC"} and order["customer"] and order["amount_usd"] >= 1.0
        revenue[order["region"]] += order["amount_usd"]
    by_region = {r["region"]: r["revenue_usd"] for r in wf.output("aggregate")["by_region"]}
    assert by_region == pytest.approx(dict(revenue), abs=0.01)
    assert wf.output("summarise")["total_revenue_usd"] == pytest.approx(sum(revenue.values()), abs=0.05)


def test_churn_prediction_trains_three_models_in_parallel_and_picks_the_best(
    py_std: PyStdProcess, client: SpindleClient
) -> None:
    name = client.deploy(CHURN).name
    wf = client.run(name, {"n_customers": 1200, "seed": 7}, timeout=300)
    assert wf.status == "completed", wf.error_message
    models = ["logistic_regression", "random_forest", "gradient_boosting"]
    results = {m: wf.output(m) for m in models}
    for model, result in results.items():
        assert result["model"] == model
        assert 0.7 < result["roc_auc"] <= 1.0
        assert result["test_rows"] == 300
        assert len(result["top_features"]) == 3
    best = max(results.values(), key=lambda r: (r["roc_auc"], r["f1"]))
    choice = wf.output("choose_model")
    assert choice["best_model"] == best["model"] and choice["roc_auc"] == best["roc_auc"]
    assert [r["model"] for r in choice["ranking"]][0] == best["model"]
    assert wf.output("announce", "echo")["message"] == f"Deploy {best['model']} (ROC AUC {best['roc_auc']})"
    # Fan-out: all three were claimed before the first of them finished.
    steps = [wf.activity(m) for m in models]
    assert max(s.claimed_at for s in steps) < min(s.completed_at for s in steps)  # type: ignore[type-var]


SUMMARISE = REPO_ROOT / "examples" / "12-summarise-documents.yaml"


def test_summarise_documents_maps_one_script_per_document_and_reads_results_in_order(
    py_std: PyStdProcess, client: SpindleClient
) -> None:
    name = client.deploy(SUMMARISE).name
    wf = client.run(name, {}, timeout=180)
    assert wf.status == "completed", wf.error_message
    results = wf.output("summarise")
    assert [r["title"] if r else None for r in results] == ["Cold batteries", "Solar at night", "Wind lulls", None]
    assert [r["position"] for r in results if r] == [0, 1, 2]
    assert results[0]["summary"] == "Lithium cells lose capacity in the cold."
    report = wf.output("report", "echo")
    assert report["documents"] == 4
    assert report["summarised"] == 3
    assert report["failed"] == [3]
    assert report["total_words"] == sum(r["words"] for r in results if r)
    assert report["digest"].splitlines()[2] == "Wind lulls: Turbines idle in calm air."


def test_summarise_documents_many_items_each_run_once_by_the_python_worker(
    py_std: PyStdProcess, client: SpindleClient
) -> None:
    name = client.deploy(SUMMARISE).name
    documents = [{"title": f"doc {i}", "text": " ".join(["word"] * (i + 1)) + "."} for i in range(40)]
    wf = client.run(name, {"documents": documents}, timeout=180)
    assert wf.status == "completed", wf.error_message
    results = wf.output("summarise")
    assert [r["words"] for r in results] == list(range(1, 41))
    assert wf.output("report", "echo")["failed"] == []
