import { useMemo } from "react";
import type { RunEvent } from "../api";
import { formatDuration } from "../format";

interface Bar {
  key: string;
  label: string;
  scheduled: number;
  started: number | null;
  ended: number | null;
  outcome: string;
  /** For a map item ("key[i]"): the map's key and iteration, to fold a long map into one bar. */
  map?: string;
}

/** A map with more item attempts than this is drawn as one bar (its first item queued → its last one settled). */
const MAX_ITEM_BARS = 20;
const ITEM_KEY = /^(.*)\[\d+\]$/;

const END_EVENTS: Record<string, string> = {
  ActivityCompleted: "completed",
  ActivityFailed: "failed",
  ActivityCancelled: "cancelled",
  ActivitySkipped: "skipped",
};

function attemptOf(e: RunEvent): number {
  const a = (e.payload as { attempt?: unknown } | null)?.attempt;
  return typeof a === "number" ? a : 1;
}

/** Every attempt of every activity, from the event history: queue wait (scheduled → started) and run time. */
export function attemptsFromEvents(events: RunEvent[]): Bar[] {
  const bars = new Map<string, Bar>();
  const open = new Map<string, Bar>(); // activity key + iteration → its latest attempt
  for (const e of events) {
    if (!e.activity_key) continue;
    const slot = `${e.activity_key}#${e.iteration ?? 0}`;
    const at = Date.parse(e.timestamp);
    if (e.event_type === "ActivityScheduled" || e.event_type === "ActivityWaiting") {
      const attempt = attemptOf(e);
      const id = `${slot}@${attempt}`;
      if (bars.has(id)) continue;
      const label = `${e.activity_key}${e.iteration ? ` #${e.iteration}` : ""}${attempt > 1 ? ` (attempt ${attempt})` : ""}`;
      const item = ITEM_KEY.exec(e.activity_key);
      const bar: Bar = { key: id, label, scheduled: at, started: null, ended: null, outcome: e.event_type === "ActivityWaiting" ? "waiting" : "pending", map: item ? `${item[1]}#${e.iteration ?? 0}` : undefined };
      bars.set(id, bar);
      open.set(slot, bar);
    } else if (e.event_type === "ActivityStarted") {
      const bar = open.get(slot);
      if (bar) {
        bar.started = at;
        bar.outcome = "running";
      }
    } else if (END_EVENTS[e.event_type]) {
      const bar = open.get(slot);
      if (bar && bar.ended === null) {
        bar.ended = at;
        bar.outcome = END_EVENTS[e.event_type];
      }
    }
  }
  return foldMaps([...bars.values()]);
}

/** Replaces the item bars of each map that has more than MAX_ITEM_BARS with one bar, where its first item was. */
function foldMaps(bars: Bar[]): Bar[] {
  const groups = new Map<string, Bar[]>();
  for (const b of bars) {
    if (!b.map) continue;
    const group = groups.get(b.map);
    if (group) group.push(b);
    else groups.set(b.map, [b]);
  }
  const folded = new Map<string, Bar>();
  for (const [map, items] of groups) {
    if (items.length <= MAX_ITEM_BARS) continue;
    const [key, iteration] = [map.slice(0, map.lastIndexOf("#")), Number(map.slice(map.lastIndexOf("#") + 1))];
    const starts = items.flatMap((b) => (b.started === null ? [] : [b.started]));
    const open = items.some((b) => b.ended === null);
    const outcome = items.some((b) => b.outcome === "failed") ? "failed" : open ? (starts.length ? "running" : "pending") : "completed";
    folded.set(map, {
      key: `${map}@items`,
      label: `${key}${iteration ? ` #${iteration}` : ""}: ${items.length.toLocaleString()} item attempts`,
      scheduled: Math.min(...items.map((b) => b.scheduled)),
      started: starts.length ? Math.min(...starts) : null,
      ended: open ? null : Math.max(...items.map((b) => b.ended!)),
      outcome,
    });
  }
  if (folded.size === 0) return bars;
  const out: Bar[] = [];
  const placed = new Set<Bar>();
  for (const b of bars) {
    const f = b.map ? folded.get(b.map) : undefined;
    if (!f) out.push(b);
    else if (!placed.has(f)) {
      placed.add(f);
      out.push(f);
    }
  }
  return out;
}

export function Timeline({ events, live }: { events: RunEvent[]; live: boolean }) {
  // The run page re-renders for many reasons; the bars change only with the events (thousands with a big map).
  const bars = useMemo(() => attemptsFromEvents(events), [events]);
  if (bars.length === 0) return <p className="muted">No activity has been scheduled yet.</p>;
  const start = Math.min(...bars.map((b) => b.scheduled));
  const last = Math.max(...bars.map((b) => b.ended ?? b.started ?? b.scheduled), live ? Date.now() : 0);
  const span = Math.max(1, last - start);
  const pct = (t: number) => `${((t - start) / span) * 100}%`;
  const width = (from: number, to: number) => `${Math.max(0.4, ((to - from) / span) * 100)}%`;
  return (
    <div className="timeline" role="table" aria-label="Timeline of attempts">
      <div className="timeline-row timeline-head" role="row">
        <span role="columnheader">Attempt</span>
        <span role="columnheader" className="muted small">0 → {formatDuration(span)} · light: waiting in the queue, solid: running</span>
      </div>
      {bars.map((b) => {
        const runFrom = b.started;
        const runTo = b.ended ?? (live ? last : b.started ?? b.scheduled);
        const queueTo = b.started ?? b.ended ?? (live ? last : b.scheduled);
        const title = `${b.label}: ${b.outcome}; queued ${formatDuration(queueTo - b.scheduled)}${runFrom !== null ? `, ran ${formatDuration(runTo - runFrom)}` : ""}`;
        return (
          <div className="timeline-row" role="row" key={b.key} data-testid="timeline-row">
            <span role="cell" className="timeline-label" title={b.label}>{b.label}</span>
            <span role="cell" className="timeline-track" title={title} aria-label={title}>
              <span className={`timeline-queue status-${b.outcome}`} style={{ left: pct(b.scheduled), width: width(b.scheduled, queueTo) }} />
              {runFrom !== null && <span className={`timeline-run status-${b.outcome}`} style={{ left: pct(runFrom), width: width(runFrom, runTo) }} />}
            </span>
          </div>
        );
      })}
    </div>
  );
}
