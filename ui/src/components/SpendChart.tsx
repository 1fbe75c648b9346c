import { type CostSpend } from "../api/ops";
import { money } from "../format";

// Mid-tone hues readable on the light and the dark background alike; the last one is "other".
export const SERIES_COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#bab0ac"];
export const OTHER_COLOR = "#8c959f";

const W = 900;
const H = 220;
const PAD_L = 56;
const PAD_B = 22;

function label(iso: string, bucket: "day" | "hour"): string {
  const d = new Date(iso);
  return bucket === "day" ? d.toLocaleDateString(undefined, { month: "short", day: "numeric" }) : d.toLocaleString(undefined, { day: "numeric", hour: "2-digit" });
}

/** Stacked bars, one per bucket, drawn as plain SVG (no chart library: the app stays small). */
export function SpendChart({ spend }: { spend: CostSpend }) {
  const totals = spend.buckets.map((b) => Number(b.total_cost_usd));
  const max = Math.max(...totals, 0);
  const n = spend.buckets.length;
  const slot = (W - PAD_L) / Math.max(n, 1);
  const bar = Math.max(1, slot * 0.8);
  const scale = max > 0 ? (H - PAD_B - 6) / max : 0;
  const keys = spend.series.map((s) => s.key);
  const every = Math.max(1, Math.ceil(n / 10));
  return (
    <svg className="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Spend per ${spend.bucket}: ${money(spend.total_cost_usd)} in total, highest ${money(String(max))}`}>
      <line x1={PAD_L} x2={W} y1={H - PAD_B} y2={H - PAD_B} className="chart-axis" />
      <text x={PAD_L - 6} y={10} textAnchor="end" className="chart-label">{money(String(max))}</text>
      <text x={PAD_L - 6} y={H - PAD_B} textAnchor="end" className="chart-label">$0</text>
      {spend.buckets.map((b, i) => {
        const x = PAD_L + i * slot + (slot - bar) / 2;
        let y = H - PAD_B;
        const parts = [...b.costs.map((c) => ({ key: c.key, cost: Number(c.cost_usd), color: SERIES_COLORS[keys.indexOf(c.key) % SERIES_COLORS.length] })),
          { key: "other", cost: Number(b.other_cost_usd), color: OTHER_COLOR }];
        return (
          <g key={b.start} data-testid="spend-bar">
            <title>{`${label(b.start, spend.bucket)}: ${money(b.total_cost_usd)}`}</title>
            {parts.filter((p) => p.cost > 0).map((p) => {
              const h = Math.max(1, p.cost * scale);
              y -= h;
              return <rect key={p.key} x={x} y={y} width={bar} height={h} fill={p.color} />;
            })}
            {i % every === 0 && (
              <text x={x + bar / 2} y={H - 6} textAnchor="middle" className="chart-label">{label(b.start, spend.bucket)}</text>
            )}
          </g>
        );
      })}
    </svg>
  );
}
