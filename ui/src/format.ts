// One formatter for the page: toLocaleString with options builds a new one per call, which a list of 500 runs feels.
const TIME = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  return TIME.format(new Date(iso));
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${m % 60} min`;
}

export function between(start: string | null | undefined, end: string | null | undefined): string {
  if (!start) return "—";
  const to = end ? Date.parse(end) : Date.now();
  return formatDuration(to - Date.parse(start));
}

export function money(value: string | null | undefined): string {
  if (value === null || value === undefined) return "—";
  const n = Number(value);
  return Number.isFinite(n) ? `$${n.toFixed(4)}` : value;
}

export function shortId(id: string): string {
  return id.length > 13 ? id.slice(0, 8) + "…" + id.slice(-4) : id;
}
