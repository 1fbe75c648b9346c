import { useEffect } from "react";
import { api } from "../api";
import { type CostAnalytics, type CostSpend } from "../api/ops";
import { ErrorBox } from "../components/ErrorBox";
import { OTHER_COLOR, SERIES_COLORS, SpendChart } from "../components/SpendChart";
import { StatusBadge } from "../components/Status";
import { formatTime, money, shortId } from "../format";
import { usePolled } from "../hooks";
import { Link, navigate, useLocation } from "../router";

const POLL_MS = 15000;
const RANGES: Record<string, { label: string; bucket: "day" | "hour"; hours: number }> = {
  "48h": { label: "Last 48 hours, hourly", bucket: "hour", hours: 48 },
  "7d": { label: "Last 7 days, daily", bucket: "day", hours: 7 * 24 },
  "30d": { label: "Last 30 days, daily", bucket: "day", hours: 30 * 24 },
};
const DIMENSIONS = ["definition", "model", "provider"] as const;

export function Costs() {
  const { query } = useLocation();
  const range = RANGES[query.get("range") ?? ""] ? query.get("range")! : "30d";
  const by = (DIMENSIONS as readonly string[]).includes(query.get("by") ?? "") ? query.get("by")! : "definition";
  const { bucket, hours } = RANGES[range];

  const spend = usePolled((signal) => {
    const start = new Date(Date.now() - hours * 3600_000).toISOString();
    return api<CostSpend>(`/cost/spend?${new URLSearchParams({ bucket, by, start_date: start })}`, { signal });
  }, [bucket, by, hours], POLL_MS);
  const analytics = usePolled((signal) => {
    const start = new Date(Date.now() - hours * 3600_000).toISOString();
    return api<CostAnalytics>(`/cost/analytics?${new URLSearchParams({ start_date: start, limit: "10" })}`, { signal });
  }, [hours], POLL_MS);

  useEffect(() => {
    document.title = "Costs · Spindle";
  }, []);

  function set(name: string, value: string) {
    const next = new URLSearchParams(query);
    next.set(name, value);
    navigate(`/costs?${next}`, true);
  }

  const s = spend.data;
  const a = analytics.data;
  return (
    <section aria-labelledby="costs-title">
      <div className="page-head">
        <h1 id="costs-title">Costs</h1>
        <div className="filters">
          <label>
            Range
            <select name="range" value={range} onChange={(e) => set("range", e.target.value)}>
              {Object.entries(RANGES).map(([key, r]) => <option key={key} value={key}>{r.label}</option>)}
            </select>
          </label>
          <label>
            Split by
            <select name="by" value={by} onChange={(e) => set("by", e.target.value)}>
              {DIMENSIONS.map((d) => <option key={d} value={d}>{d}</option>)}
            </select>
          </label>
        </div>
      </div>
      <ErrorBox error={spend.error ?? analytics.error} />
      {a && (
        <dl className="facts">
          <div><dt>Spend</dt><dd data-testid="total-spend">{money(a.total_cost_usd)}</dd></div>
          <div><dt>Runs with costs</dt><dd>{a.total_workflows}</dd></div>
          <div><dt>Priced activities</dt><dd>{a.total_activities}</dd></div>
          <div><dt>Tokens</dt><dd>{a.total_tokens.toLocaleString()}</dd></div>
          <div><dt>Budget aborts / downgrades</dt><dd>{a.budget_aborts} / {a.budget_downgrades}</dd></div>
        </dl>
      )}
      <h2>Spend over time</h2>
      {s && (
        <div className="chart-box">
          <SpendChart spend={s} />
          <table className="table legend" aria-label={`Spend by ${by}`}>
            <thead>
              <tr>
                <th scope="col">{by}</th>
                <th scope="col">Spend</th>
              </tr>
            </thead>
            <tbody>
              {s.series.map((item, i) => (
                <tr key={item.key} data-testid="spend-series">
                  <td><span className="swatch" style={{ background: SERIES_COLORS[i % SERIES_COLORS.length] }} aria-hidden="true" /> {item.key}</td>
                  <td>{money(item.total_cost_usd)}</td>
                </tr>
              ))}
              {Number(s.other_cost_usd) > 0 && (
                <tr>
                  <td><span className="swatch" style={{ background: OTHER_COLOR }} aria-hidden="true" /> other</td>
                  <td>{money(s.other_cost_usd)}</td>
                </tr>
              )}
              {s.series.length === 0 && (
                <tr><td colSpan={2} className="muted">No spend in this range.</td></tr>
              )}
            </tbody>
          </table>
        </div>
      )}
      <h2>Most expensive runs</h2>
      <table className="table" aria-label="Most expensive runs">
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">Definition</th>
            <th scope="col">Status</th>
            <th scope="col">Started</th>
            <th scope="col">Cost</th>
            <th scope="col">Budget</th>
          </tr>
        </thead>
        <tbody>
          {a?.top_workflows.map((w) => (
            <tr key={w.workflow_id} data-testid="top-run">
              <td><Link to={`/runs/${w.workflow_id}`} className="mono" title={w.workflow_id}>{shortId(w.workflow_id)}</Link></td>
              <td>{w.definition_name}</td>
              <td><StatusBadge status={w.status} /></td>
              <td>{formatTime(w.created_at)}</td>
              <td>{money(w.total_cost_usd)}</td>
              <td>{money(w.budget_limit_usd)}</td>
            </tr>
          ))}
          {a && a.top_workflows.length === 0 && (
            <tr><td colSpan={6} className="muted">No costs recorded in this range.</td></tr>
          )}
        </tbody>
      </table>
      <h2>Budget events</h2>
      <table className="table" aria-label="Budget events">
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Event</th>
            <th scope="col">Run</th>
            <th scope="col">Activity</th>
            <th scope="col">Estimate</th>
            <th scope="col">Limit</th>
          </tr>
        </thead>
        <tbody>
          {a?.budget_events.map((e, i) => (
            <tr key={`${e.workflow_id}-${e.activity_key}-${i}`} data-testid="budget-event">
              <td>{formatTime(e.created_at)}</td>
              <td><span className={`badge status-${e.event === "abort" ? "failed" : "pending"}`}>{e.event}</span></td>
              <td><Link to={`/runs/${e.workflow_id}`} className="mono" title={e.workflow_id}>{shortId(e.workflow_id)}</Link> <span className="muted small">{e.definition_name}</span></td>
              <td className="mono">{e.activity_key}</td>
              <td>{money(e.estimated_cost_usd)}</td>
              <td>{money(e.budget_limit_usd)}</td>
            </tr>
          ))}
          {a && a.budget_events.length === 0 && (
            <tr><td colSpan={6} className="muted">No budget aborts or downgrades in this range.</td></tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
