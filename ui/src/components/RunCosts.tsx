import { api, type RunCost } from "../api";
import { money } from "../format";
import { usePolled } from "../hooks";

interface CostLine {
  activity_key: string;
  attempt: number;
  cost_usd: string;
  total_tokens: number;
  provider: string | null;
  model: string | null;
  budget_event: string | null;
}

function sum(lines: CostLine[], by: (l: CostLine) => string): [string, { usd: number; tokens: number; lines: number }][] {
  const totals = new Map<string, { usd: number; tokens: number; lines: number }>();
  for (const l of lines) {
    const k = by(l);
    const t = totals.get(k) ?? { usd: 0, tokens: 0, lines: 0 };
    t.usd += Number(l.cost_usd) || 0;
    t.tokens += l.total_tokens || 0;
    t.lines++;
    totals.set(k, t);
  }
  return [...totals.entries()].sort((a, b) => b[1].usd - a[1].usd);
}

/** The run's cost by activity and by model (from its cost lines), and how much of its budget it used. */
export function RunCosts({ runId, version }: { runId: string; version: number }) {
  const cost = usePolled((signal) => api<RunCost>(`/workflows/${encodeURIComponent(runId)}/cost`, { signal }), [runId, version]);
  const history = usePolled((signal) => api<CostLine[]>(`/workflows/${encodeURIComponent(runId)}/cost/history`, { signal }), [runId, version]);
  const lines = history.data ?? [];
  const total = Number(cost.data?.total_cost_usd ?? 0);
  const limit = cost.data?.budget_limit_usd ? Number(cost.data.budget_limit_usd) : null;
  if (lines.length === 0 && !limit) return <p className="muted small" data-testid="run-costs">No cost recorded.</p>;
  const used = limit ? Math.min(100, (total / limit) * 100) : 0;
  return (
    <div className="costs" data-testid="run-costs">
      {limit !== null && (
        <p>
          Budget: {money(String(total))} of {money(String(limit))} ({used.toFixed(0)}%){" "}
          <meter min={0} max={limit} value={Math.min(total, limit)} high={limit * 0.8} aria-label="Budget used" />
        </p>
      )}
      <div className="cost-tables">
        <CostTable title="By activity" rows={sum(lines, (l) => l.activity_key)} />
        <CostTable title="By model" rows={sum(lines, (l) => (l.model ? `${l.provider ? l.provider + "/" : ""}${l.model}` : "(no model)"))} />
      </div>
    </div>
  );
}

function CostTable({ title, rows }: { title: string; rows: [string, { usd: number; tokens: number; lines: number }][] }) {
  return (
    <table className="table" aria-label={title}>
      <thead>
        <tr>
          <th scope="col">{title}</th>
          <th scope="col" className="num">Cost</th>
          <th scope="col" className="num">Tokens</th>
        </tr>
      </thead>
      <tbody>
        {rows.map(([k, t]) => (
          <tr key={k}>
            <td className="mono small">{k}</td>
            <td className="num">{money(t.usd.toFixed(6))}</td>
            <td className="num">{t.tokens ? t.tokens.toLocaleString() : "—"}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
