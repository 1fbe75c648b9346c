import { memo, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api, download, TERMINAL_RUN, type ActivityResult, type Definition, type EventPage, type Run as RunData, type RunCost, type RunEvent } from "../api";
import { ChildRuns, ParentLink } from "../components/ChildRuns";
import { Confirm } from "../components/Confirm";
import { ErrorBox } from "../components/ErrorBox";
import { latestByKey, WorkflowGraph } from "../components/Graph";
import { JsonView } from "../components/JsonView";
import { describeActivity, latestChild, MapItems, mapProgressText } from "../components/MapItems";
import { expectedEvent, SignalForm } from "../components/SignalForm";
import { StatusBadge } from "../components/Status";
import { RunCosts } from "../components/RunCosts";
import { Timeline } from "../components/Timeline";
import { between, formatTime, money } from "../format";
import { usePolled, useThrottled } from "../hooks";
import { Link } from "../router";
import { follow } from "../sse";

const POLL_MS = 2000;
/** Event rows drawn at first: a map of 1,000 items brings 4,000 events, and drawing them all on every update lags. */
const EVENT_ROWS = 500;

/**
 * The run's event history: over the run's live stream (which replays the history first, then follows) while the
 * run is active, else read page by page with `after`; polled instead while the stream is down. Both sources are
 * merged by event id. `onNew` hears of new events (the caller reloads the run's statuses).
 */
function useEvents(id: string, active: boolean, onNew: () => void) {
  const [events, setEvents] = useState<RunEvent[]>([]);
  const [error, setError] = useState<Error | null>(null);
  const [live, setLive] = useState(false);
  const seen = useRef(new Set<string>());
  const last = useRef<string | null>(null);
  const onNewRef = useRef(onNew);
  onNewRef.current = onNew;
  const add = useRef((batch: RunEvent[]) => {
    const fresh = batch.filter((e) => !seen.current.has(e.id));
    if (fresh.length === 0) return;
    for (const e of fresh) seen.current.add(e.id);
    last.current = fresh[fresh.length - 1].id;
    setEvents((prev) => [...prev, ...fresh]);
    onNewRef.current();
  }).current;
  useEffect(() => {
    setEvents([]);
    seen.current = new Set();
    last.current = null;
  }, [id]);
  useEffect(() => {
    if (!active) {
      setLive(false);
      return;
    }
    let batch: RunEvent[] = [];
    let flush: ReturnType<typeof setTimeout> | undefined;
    const stop = follow(
      `/workflows/${encodeURIComponent(id)}/events/stream`,
      (e) => {
        // The replay comes as a burst: one state update per burst, not per event.
        batch.push(e);
        flush ??= setTimeout(() => {
          flush = undefined;
          const b = batch;
          batch = [];
          add(b);
        }, 50);
      },
      setLive,
    );
    return () => {
      stop();
      clearTimeout(flush);
    };
  }, [id, active, add]);
  useEffect(() => {
    if (live) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const controller = new AbortController();
    const load = async () => {
      try {
        for (;;) {
          const params = new URLSearchParams({ limit: "500" });
          if (last.current) params.set("after", last.current);
          const page = await api<EventPage>(`/workflows/${encodeURIComponent(id)}/events?${params}`, { signal: controller.signal });
          if (stopped) return;
          add(page.events);
          if (!page.has_more) break;
        }
        setError(null);
      } catch (e) {
        if (!stopped && !(e instanceof DOMException)) setError(e as Error);
      }
      if (!stopped && active) timer = setTimeout(load, POLL_MS);
    };
    void load();
    return () => {
      stopped = true;
      controller.abort();
      clearTimeout(timer);
    };
  }, [id, active, live, add]);
  return { events, error, live };
}

export function Run({ id }: { id: string }) {
  const [streaming, setStreaming] = useState(false);
  const run = usePolled((signal) => api<RunData>(`/workflows/${encodeURIComponent(id)}`, { signal }), [id], streaming ? 0 : POLL_MS, (r) => !TERMINAL_RUN.has(r.status));
  const name = run.data?.definition_name;
  const version = run.data?.definition_version;
  const definition = usePolled(
    (signal) => (name ? api<Definition>(`/workflow_definitions/${encodeURIComponent(name)}?version=${encodeURIComponent(version!)}`, { signal }) : Promise.resolve(null)),
    [name, version],
  );
  const live = !!run.data && !TERMINAL_RUN.has(run.data.status);
  const cost = usePolled((signal) => api<RunCost>(`/workflows/${encodeURIComponent(id)}/cost`, { signal }), [id, run.data?.status]);
  const reloadRun = useThrottled(run.reload, 300);
  const { events, error: eventsError, live: streamLive } = useEvents(id, live, reloadRun);
  useEffect(() => setStreaming(streamLive), [streamLive]);
  const [selected, setSelected] = useState<string | null>(null);
  // Events of the selected map's items ("key[i]"): the items table reloads when their number grows.
  const itemEvents = useMemo(() => {
    if (!selected) return 0;
    const prefix = selected + "[";
    let n = 0;
    for (const e of events) if (e.activity_key?.startsWith(prefix)) n++;
    return n;
  }, [events, selected]);
  const [allEvents, setAllEvents] = useState(false);
  // A map item's events name "key[i]": they select the map.
  const selectFromEvent = useCallback((key: string) => setSelected(key.replace(/\[\d+\]$/, "")), []);
  const [confirm, setConfirm] = useState<"cancel" | "retry" | null>(null);
  const [actionError, setActionError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    document.title = `${name ?? "Run"} · Spindle`;
  }, [name]);

  async function act(action: "cancel" | "retry") {
    setBusy(true);
    setActionError(null);
    try {
      await api(`/workflows/${encodeURIComponent(id)}/${action}`, { method: "POST", json: action === "cancel" ? { reason: "cancelled from the web UI" } : {} });
      setConfirm(null);
      run.reload();
    } catch (e) {
      setActionError(e as Error);
      setConfirm(null);
    } finally {
      setBusy(false);
    }
  }

  if (run.error && !run.data) return <ErrorBox error={run.error} />;
  if (!run.data) return <p className="muted">Loading…</p>;
  const r = run.data;
  const canCancel = !TERMINAL_RUN.has(r.status);
  const canRetry = r.status === "failed" || r.status === "cancelled";

  return (
    <section aria-labelledby="run-title">
      <div className="page-head">
        <div>
          <p className="crumbs"><Link to="/runs">Runs</Link> /</p>
          <h1 id="run-title">
            {r.definition_name} <StatusBadge status={r.status} />
          </h1>
          <p className="mono muted small">
            {r.id}
            {live && <span data-testid="live-state"> · {streamLive ? "live" : `updates every ${POLL_MS / 1000} s`}</span>}
          </p>
        </div>
        <div className="actions">
          {canRetry && (
            <button type="button" onClick={() => setConfirm("retry")}>
              Retry failed steps
            </button>
          )}
          {canCancel && (
            <button type="button" className="danger" onClick={() => setConfirm("cancel")}>
              Cancel run
            </button>
          )}
        </div>
      </div>
      <ErrorBox error={actionError} />
      <dl className="facts">
        <div><dt>Definition</dt><dd><Link to={`/definitions/${encodeURIComponent(r.definition_name)}?version=${r.definition_version}`}>{r.definition_name}</Link> <span className="muted mono small">{r.definition_version}</span></dd></div>
        <div><dt>Started</dt><dd>{formatTime(r.created_at)}</dd></div>
        <div><dt>Duration</dt><dd>{between(r.created_at, TERMINAL_RUN.has(r.status) ? r.completed_at ?? r.updated_at : null)}</dd></div>
        {r.parent_id && <div><dt>Parent run</dt><dd><ParentLink parentId={r.parent_id} activityKey={r.parent_activity_key} /></dd></div>}
        <div><dt>Cost</dt><dd>{money(cost.data?.total_cost_usd ?? r.total_cost_usd)}{cost.data?.budget_limit_usd ? ` of ${money(cost.data.budget_limit_usd)} budget` : ""}</dd></div>
      </dl>
      {r.error_message && <div className="error" role="status">{r.error_message}</div>}

      <div className="run-layout">
        <div>
          <h2>Graph</h2>
          {definition.data ? (
            <WorkflowGraph activities={definition.data.activities} runActivities={r.activities} childRuns={r.children} selected={selected} onSelect={setSelected} />
          ) : (
            <ErrorBox error={definition.error} />
          )}
        </div>
        <ActivityPanel run={r} definition={definition.data} selected={selected} onSelect={setSelected} onChanged={run.reload} itemEvents={itemEvents} />
      </div>

      {(r.children?.length ?? 0) > 0 && (
        <>
          <h2>Child runs</h2>
          <ChildRuns runs={r.children!} />
        </>
      )}

      <h2>Timeline</h2>
      <Timeline events={events} live={live} />

      <h2>Cost</h2>
      <RunCosts runId={r.id} version={events.filter((e) => e.event_type === "ActivityCompleted" || e.event_type === "ActivityFailed").length} />

      <h2>Events</h2>
      <ErrorBox error={eventsError} />
      {events.length > EVENT_ROWS && !allEvents && (
        <p className="small muted">
          The latest {EVENT_ROWS} of {events.length.toLocaleString()} events.{" "}
          <button type="button" className="link" onClick={() => setAllEvents(true)}>Show all</button>
        </p>
      )}
      <div className="table-wrap">
        <table className="table events" aria-label="Event history">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Event</th>
              <th scope="col">Activity</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {(allEvents ? events : events.slice(-EVENT_ROWS)).map((e) => (
              <EventRow key={e.id} event={e} onSelect={selectFromEvent} />
            ))}
          </tbody>
        </table>
      </div>

      <Confirm
        open={confirm === "cancel"}
        title="Cancel this run?"
        confirmLabel="Cancel run"
        danger
        busy={busy}
        onConfirm={() => act("cancel")}
        onClose={() => setConfirm(null)}
      >
        <p>Waiting and queued activities are cancelled at once; running ones are told to stop. This cannot be undone, but a cancelled run can be retried.</p>
      </Confirm>
      <Confirm
        open={confirm === "retry"}
        title="Retry this run?"
        confirmLabel="Retry"
        busy={busy}
        onConfirm={() => act("retry")}
        onClose={() => setConfirm(null)}
      >
        <p>Its failed, cancelled and skipped activities run again; completed ones, and the completed items of a map, keep their results. If its concurrency key is full, it waits in the queue for a slot.</p>
      </Confirm>
    </section>
  );
}

/** One row of the event history; memoised, as the history only grows and a live run re-renders the page often. */
const EventRow = memo(function EventRow({ event: e, onSelect }: { event: RunEvent; onSelect: (key: string) => void }) {
  return (
    <tr data-testid="event-row">
      <td className="nowrap">{formatTime(e.timestamp)}</td>
      <td>{e.event_type}</td>
      <td>{e.activity_key ? <button type="button" className="link" onClick={() => onSelect(e.activity_key!)}>{e.activity_key}{e.iteration ? ` #${e.iteration}` : ""}</button> : ""}</td>
      <td className="mono small truncate" title={e.payload ? JSON.stringify(e.payload) : ""}>{e.payload && Object.keys(e.payload as object).length ? JSON.stringify(e.payload) : ""}</td>
    </tr>
  );
});

function ActivityPanel({ run, definition, selected, onSelect, onChanged, itemEvents }: { run: RunData; definition: Definition | null; selected: string | null; onSelect: (key: string) => void; onChanged: () => void; itemEvents: number }) {
  const latest = latestByKey(run.activities);
  const keys = definition?.activities.map((a) => a.key) ?? [...latest.keys()];
  if (!selected) {
    return (
      <aside className="panel" aria-label="Activities">
        <h2>Activities</h2>
        <ul className="plain">
          {keys.map((key) => (
            <li key={key}>
              <button type="button" className="link" onClick={() => onSelect(key)}>{key}</button> <StatusBadge status={latest.get(key)?.status ?? "not_scheduled"} />
              {latest.get(key)?.map && <span className="small muted"> {mapProgressText(latest.get(key)!.map!)}</span>}
            </li>
          ))}
        </ul>
        <p className="muted small">Select a node or an activity for its parameters, outputs and errors.</p>
      </aside>
    );
  }
  const spec = definition?.activities.find((a) => a.key === selected);
  const rows = run.activities.filter((a) => a.activity_key === selected).sort((a, b) => a.iteration - b.iteration);
  const isMap = spec ? spec.for_each !== undefined : rows.some((a) => a.map);
  const isWorkflow = !!spec?.workflow;
  const children = (run.children ?? []).filter((c) => c.activity_key === selected);
  const child = isWorkflow && !isMap ? latestChild(run.children, selected) : undefined;
  return (
    <aside className="panel" aria-label={`Activity ${selected}`}>
      <h2>
        {selected} <button type="button" className="link small" onClick={() => onSelect("")} aria-label="Back to the activity list">all activities</button>
      </h2>
      {spec && <p className="muted">{describeActivity(spec, true)}</p>}
      {child && (
        <p data-testid="child-run">
          Child run <Link to={`/runs/${child.workflow_id}`}>{child.definition_name}</Link> <StatusBadge status={child.status} />
          {children.length > 1 && <span className="muted small"> (attempt {child.attempt}; earlier: {children.filter((c) => c !== child).map((c, i) => <span key={c.workflow_id}>{i > 0 && ", "}<Link to={`/runs/${c.workflow_id}`}>attempt {c.attempt}</Link></span>)})</span>}
        </p>
      )}
      {spec?.parameters && (
        <>
          <h3>Parameters (as defined)</h3>
          <JsonView value={spec.parameters} name={`${selected}-parameters`} />
        </>
      )}
      {/* A map's items first: its own row below holds only the lists of all their outputs. */}
      {isMap && <MapItems runId={run.id} activityKey={selected} map={latest.get(selected)?.map} childRuns={run.children} isWorkflow={isWorkflow} version={itemEvents} />}
      {rows.length === 0 && <p className="muted">Not scheduled yet.</p>}
      {rows.map((a) => (
        <div key={`${a.iteration}`} className="attempt">
          <h3>
            {rows.length > 1 ? `Iteration ${a.iteration} · ` : ""}
            <StatusBadge status={a.status} /> <span className="muted small">attempt {a.attempt}</span>
          </h3>
          <p className="small muted">
            waited {a.started_at && a.claimed_at ? between(a.started_at, a.claimed_at) : "—"} in the queue · ran {a.claimed_at ? between(a.claimed_at, a.completed_at) : "—"}
          </p>
          {a.status === "waiting" && <SignalForm runId={run.id} activityKey={a.activity_key} eventName={expectedEvent(spec?.settings)} onSent={onChanged} />}
          {a.error && <div className="error" role="status"><strong>{a.error_detail?.code ?? "Error"}</strong>: {a.error_detail?.message ?? a.error}</div>}
          {(a.outputs ?? []).length > 0 && (
            <>
              <h4>Output</h4>
              {(a.outputs ?? []).map((o) => (
                <JsonView key={o.name} value={o.value} name={`${selected}-${o.name}`} />
              ))}
            </>
          )}
        </div>
      ))}
      {latest.get(selected)?.status === "completed" && <ActivityFiles runId={run.id} activityKey={selected} />}
    </aside>
  );
}

function ActivityFiles({ runId, activityKey }: { runId: string; activityKey: string }) {
  const result = usePolled((signal) => api<ActivityResult>(`/workflows/${encodeURIComponent(runId)}/activities/${encodeURIComponent(activityKey)}/output`, { signal }), [runId, activityKey]);
  const files = result.data?.files ?? [];
  return (
    <>
      {result.data?.cost_usd && Number(result.data.cost_usd) > 0 && <p className="small">Cost {money(result.data.cost_usd)}</p>}
      {files.length > 0 && (
        <>
          <h4>Files</h4>
          <ul className="plain">
            {files.map((f) => (
              <li key={f.filename}>
                <button type="button" className="link" onClick={() => void download(f.download_url, f.filename)}>{f.filename}</button>{" "}
                <span className="muted small">{f.content_type}, {f.size.toLocaleString()} bytes</span>
              </li>
            ))}
          </ul>
        </>
      )}
    </>
  );
}
