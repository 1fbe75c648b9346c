import { useEffect, useLayoutEffect, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { api, RUN_STATUSES, TERMINAL_RUN, type DefinitionSummary, type RunList } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { StatusBadge } from "../components/Status";
import { between, formatTime, money, shortId } from "../format";
import { usePolled } from "../hooks";
import { useLiveReload } from "../live";
import { Link, navigate, useLocation } from "../router";
import type { StreamEvent } from "../sse";

const PAGE_SIZES = [50, 100, 500];
const POLL_MS = 3000;
// While the stream is up, a slow poll is only a safety net (an event missed in a reconnect, a clock-driven change).
const LIVE_POLL_MS = 30_000;
const FULL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// The events that change a row of the list: a new run, a status change, a cost added.
const LIST_EVENTS = "WorkflowCreated,WorkflowCompleted,WorkflowFailed,WorkflowCancelled,WorkflowRetried,ActivityStarted,ActivityCompleted";

function toIso(local: string): string | null {
  if (!local) return null;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** Every filter and the page position (an opaque keyset cursor) live in the URL, so a view can be shared and survives a reload. */
export function Runs() {
  const { query } = useLocation();
  const status = query.get("status") ?? "";
  const definition = query.get("definition") ?? "";
  const after = query.get("after") ?? "";
  const before = query.get("before") ?? "";
  const schedule = query.get("schedule") ?? "";
  const idPrefix = (query.get("id") ?? "").toLowerCase();
  const cursor = query.get("cursor") ?? "";
  const limit = PAGE_SIZES.includes(Number(query.get("limit"))) ? Number(query.get("limit")) : PAGE_SIZES[0];
  const [search, setSearch] = useState(idPrefix);
  const [scheduleText, setScheduleText] = useState(schedule);
  const [searchError, setSearchError] = useState<Error | null>(null);
  useEffect(() => setSearch(idPrefix), [idPrefix]);
  useEffect(() => setScheduleText(schedule), [schedule]);

  const definitions = usePolled((signal) => api<{ definitions: DefinitionSummary[] }>("/workflow_definitions", { signal }), []);
  const definitionNames = [...new Set(definitions.data?.definitions.map((d) => d.name) ?? [])];

  // The stream and the list need each other (which runs are shown; what to reload): refs break the circle.
  const reloadRef = useRef<() => void>(() => {});
  const shownRef = useRef<Set<string>>(new Set());
  const onFirstPage = !cursor;
  const live = useLiveReload(
    `/events/stream?event_type=${LIST_EVENTS}`,
    // Any change may show on the first page (a new run, or one whose row is still on its way); further pages only
    // change with the runs they show.
    (e: StreamEvent) => onFirstPage || shownRef.current.has(e.workflow_id),
    () => reloadRef.current(),
  );
  const runs = usePolled(
    async (signal) => {
      const params = new URLSearchParams({ limit: String(limit) });
      if (status) params.set("status", status);
      if (definition) params.set("definition_name", definition);
      if (schedule) params.set("schedule_id", schedule);
      if (idPrefix) params.set("id_prefix", idPrefix);
      if (cursor) params.set("cursor", cursor);
      const a = toIso(after);
      const b = toIso(before);
      if (a) params.set("created_after", a);
      if (b) params.set("created_before", b);
      const list = await api<RunList>(`/workflows?${params}`, { signal });
      performance.mark("runs:data");
      return { ...list, loadedCursor: cursor };
    },
    [status, definition, schedule, idPrefix, cursor, after, before, limit],
    live ? LIVE_POLL_MS : POLL_MS,
  );
  reloadRef.current = runs.reload;
  shownRef.current = new Set(runs.data?.workflows.map((w) => w.id) ?? []);

  // Paging back up to the newest runs lands on the first page itself (which follows new runs).
  useEffect(() => {
    if (cursor && runs.data?.loadedCursor === cursor && !runs.data.prev_cursor) update({ cursor: "" }, true);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [cursor, runs.data]);

  useLayoutEffect(() => {
    if (!runs.data || performance.getEntriesByName("runs:data").length === 0) return;
    // Around the render of a page, for the performance test (and the browser's devtools).
    performance.mark("runs:rendered");
    performance.measure("runs:render", "runs:data", "runs:rendered");
    performance.clearMarks("runs:data");
  }, [runs.data]);

  function update(changes: Record<string, string>, replace = !("cursor" in changes)) {
    const next = new URLSearchParams(query);
    for (const [name, value] of Object.entries(changes)) {
      if (value) next.set(name, value);
      else next.delete(name);
    }
    if (!("cursor" in changes)) next.delete("cursor");
    const qs = next.toString();
    navigate(`/runs${qs ? "?" + qs : ""}`, replace);
  }

  async function findRun(e: FormEvent) {
    e.preventDefault();
    const id = search.trim().toLowerCase();
    setSearchError(null);
    if (FULL_ID.test(id)) {
      try {
        await api(`/workflows/${encodeURIComponent(id)}`);
        navigate(`/runs/${encodeURIComponent(id)}`);
        return;
      } catch (err) {
        setSearchError(err as Error);
        return;
      }
    }
    update({ id });
  }

  useEffect(() => {
    document.title = "Runs · Spindle";
  }, []);

  const data = runs.data;
  return (
    <section aria-labelledby="runs-title">
      <div className="page-head">
        <h1 id="runs-title">Runs</h1>
        <form className="search" role="search" onSubmit={findRun}>
          <label className="visually-hidden" htmlFor="run-search">Run id</label>
          <input id="run-search" placeholder="Run id or its start…" value={search} onChange={(e) => setSearch(e.target.value)} autoComplete="off" spellCheck={false} />
          <button type="submit">Open</button>
        </form>
      </div>
      <ErrorBox error={searchError} />
      <div className="filters">
        <label>
          Status
          <select value={status} onChange={(e) => update({ status: e.target.value })} name="status">
            <option value="">any</option>
            {RUN_STATUSES.map((s) => (
              <option key={s} value={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Definition
          <select value={definition} onChange={(e) => update({ definition: e.target.value })} name="definition">
            <option value="">any</option>
            {definitionNames.map((name) => (
              <option key={name} value={name}>{name}</option>
            ))}
          </select>
        </label>
        <label>
          Created after
          <input type="datetime-local" value={after} onChange={(e) => update({ after: e.target.value })} name="after" />
        </label>
        <label>
          Created before
          <input type="datetime-local" value={before} onChange={(e) => update({ before: e.target.value })} name="before" />
        </label>
        <form onSubmit={(e) => { e.preventDefault(); update({ schedule: scheduleText.trim() }); }}>
          <label>
            Schedule id
            <input name="schedule" value={scheduleText} onChange={(e) => setScheduleText(e.target.value)} onBlur={() => scheduleText.trim() !== schedule && update({ schedule: scheduleText.trim() })} spellCheck={false} autoComplete="off" />
          </label>
        </form>
        <label>
          Per page
          <select value={limit} onChange={(e) => update({ limit: e.target.value === String(PAGE_SIZES[0]) ? "" : e.target.value })} name="limit">
            {PAGE_SIZES.map((n) => (
              <option key={n} value={n}>{n}</option>
            ))}
          </select>
        </label>
        {(status || definition || after || before || schedule || idPrefix) && (
          <button type="button" className="link" onClick={() => navigate("/runs")}>Clear filters</button>
        )}
      </div>
      <ErrorBox error={runs.error} />
      <div className="table-wrap">
        <table className="table runs" aria-describedby="runs-summary">
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Status</th>
              <th scope="col">Definition</th>
              <th scope="col">Started</th>
              <th scope="col">Duration</th>
              <th scope="col" className="num">Cost</th>
              <th scope="col">Schedule</th>
              <th scope="col">Error</th>
            </tr>
          </thead>
          <tbody>
            {data?.workflows.map((run) => (
              <tr
                key={run.id}
                data-testid="run-row"
                data-status={run.status}
                tabIndex={0}
                className="row-link"
                aria-label={`${run.definition_name} run ${run.id}, ${run.status}`}
                onKeyDown={(e: KeyboardEvent) => {
                  if (e.key === "Enter" && e.target === e.currentTarget) navigate(`/runs/${run.id}`);
                }}
              >
                <td><Link to={`/runs/${run.id}`} className="mono" title={run.id} tabIndex={-1}>{shortId(run.id)}</Link></td>
                <td><StatusBadge status={run.status} /></td>
                <td><Link to={`/definitions/${encodeURIComponent(run.definition_name)}?version=${run.definition_version}`} tabIndex={-1}>{run.definition_name}</Link></td>
                <td className="nowrap">{formatTime(run.created_at)}</td>
                <td className="nowrap">{between(run.created_at, TERMINAL_RUN.has(run.status) ? run.completed_at ?? run.updated_at : null)}</td>
                <td className="num">{Number(run.total_cost_usd ?? 0) > 0 ? money(run.total_cost_usd) : "—"}</td>
                <td>
                  {run.schedule_id ? (
                    <button type="button" className="link mono small" title={`Only runs of schedule ${run.schedule_id}; occurrence ${formatTime(run.scheduled_at)}`} onClick={() => update({ schedule: run.schedule_id! })} tabIndex={-1}>
                      {shortId(run.schedule_id)}
                    </button>
                  ) : (
                    ""
                  )}
                </td>
                <td className="truncate" title={run.error_message ?? ""}>{run.error_message ?? ""}</td>
              </tr>
            ))}
            {data && data.workflows.length === 0 && (
              <tr>
                <td colSpan={8} className="muted">No runs match.</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      {data && (
        <nav className="pager" aria-label="Pages">
          <span id="runs-summary" className="muted">
            {data.count} shown of {data.total.toLocaleString()} {data.total === 1 ? "run" : "runs"} ·{" "}
            <span data-testid="live-state">{live ? "live" : `updates every ${POLL_MS / 1000} s`}</span>
          </span>
          <button type="button" onClick={() => update({ cursor: "" })} disabled={!cursor}>
            Newest
          </button>
          <button type="button" onClick={() => update({ cursor: data.prev_cursor ?? "" })} disabled={!data.prev_cursor}>
            Newer
          </button>
          <button type="button" onClick={() => update({ cursor: data.next_cursor ?? "" })} disabled={!data.next_cursor}>
            Older
          </button>
        </nav>
      )}
    </section>
  );
}
