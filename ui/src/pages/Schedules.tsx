import { useEffect, useState } from "react";
import { api } from "../api";
import { type Schedule, type ScheduleDetail, type TriggerOutcome } from "../api/ops";
import { Confirm } from "../components/Confirm";
import { ErrorBox } from "../components/ErrorBox";
import { formatTime, shortId } from "../format";
import { usePolled } from "../hooks";
import { Link } from "../router";

const POLL_MS = 5000;

type Action = { kind: "pause" | "resume" | "trigger"; schedule: Schedule };

function cadence(s: Schedule): string {
  if (s.cron) return `cron ${s.cron}${s.timezone && s.timezone !== "UTC" ? ` (${s.timezone})` : ""}`;
  if (s.interval_seconds) return `every ${s.interval_seconds} s`;
  return "—";
}

export function Schedules() {
  const list = usePolled((signal) => api<{ schedules: Schedule[]; count: number }>("/schedules", { signal }), [], POLL_MS);
  const [open, setOpen] = useState<string | null>(null);
  const [action, setAction] = useState<Action | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    document.title = "Schedules · Spindle";
  }, []);

  async function run() {
    if (!action) return;
    setBusy(true);
    setError(null);
    try {
      const path = `/schedules/${encodeURIComponent(action.schedule.id)}/${action.kind}`;
      const answer = await api<TriggerOutcome | Schedule>(path, { method: "POST", json: {} });
      if (action.kind === "trigger") {
        const t = answer as TriggerOutcome;
        setNotice(`${action.schedule.name}: ${t.outcome}${t.workflow_id ? ` (run ${t.workflow_id})` : ""}${t.message ? ` — ${t.message}` : ""}`);
      } else {
        setNotice(`${action.schedule.name} ${action.kind === "pause" ? "paused" : "resumed"}`);
      }
      setAction(null);
      list.reload();
    } catch (e) {
      setError(e as Error);
      setAction(null);
    } finally {
      setBusy(false);
    }
  }

  const data = list.data;
  return (
    <section aria-labelledby="schedules-title">
      <div className="page-head">
        <h1 id="schedules-title">Schedules</h1>
        <p className="muted small">Recurring submissions. Create them with the API, the CLI or a definition's <code>schedules:</code>.</p>
      </div>
      <ErrorBox error={list.error ?? error} />
      {notice && <p role="status" className="notice">{notice}</p>}
      <table className="table" aria-label="Schedules">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Definition</th>
            <th scope="col">Cadence</th>
            <th scope="col">State</th>
            <th scope="col">Next run</th>
            <th scope="col">Last run</th>
            <th scope="col">Runs</th>
            <th scope="col"><span className="visually-hidden">Actions</span></th>
          </tr>
        </thead>
        <tbody>
          {data?.schedules.map((s) => (
            <ScheduleRow
              key={s.id}
              schedule={s}
              open={open === s.id}
              onToggle={() => setOpen(open === s.id ? null : s.id)}
              onAction={(kind) => { setNotice(null); setAction({ kind, schedule: s }); }}
            />
          ))}
          {data && data.schedules.length === 0 && (
            <tr>
              <td colSpan={8} className="muted">No schedules.</td>
            </tr>
          )}
        </tbody>
      </table>
      <Confirm
        open={action !== null}
        title={action ? `${action.kind === "trigger" ? "Run" : action.kind === "pause" ? "Pause" : "Resume"} ${action.schedule.name}?` : ""}
        confirmLabel={action?.kind === "trigger" ? "Run now" : action?.kind === "pause" ? "Pause" : "Resume"}
        danger={action?.kind === "pause"}
        busy={busy}
        onConfirm={() => void run()}
        onClose={() => setAction(null)}
      >
        {action?.kind === "trigger" && <p>Starts a run of <code>{action.schedule.definition_name}</code> now, under the schedule's overlap policy.</p>}
        {action?.kind === "pause" && <p>No occurrence runs until it is resumed.</p>}
        {action?.kind === "resume" && <p>The next run is planned from now.</p>}
      </Confirm>
    </section>
  );
}

function ScheduleRow({ schedule: s, open, onToggle, onAction }: { schedule: Schedule; open: boolean; onToggle: () => void; onAction: (kind: Action["kind"]) => void }) {
  return (
    <>
      <tr data-testid="schedule-row" data-name={s.name}>
        <th scope="row">
          <button type="button" className="link" aria-expanded={open} aria-controls={`schedule-${s.id}`} onClick={onToggle}>{s.name}</button>
        </th>
        <td><Link to={`/definitions/${encodeURIComponent(s.definition_name)}`}>{s.definition_name}</Link></td>
        <td className="mono small">{cadence(s)}</td>
        <td>
          {s.enabled ? <span className="badge status-completed">active</span> : <span className="badge status-skipped" title={s.note ?? undefined}>paused</span>}
        </td>
        <td>{formatTime(s.next_run_at)}</td>
        <td>{s.last_workflow_id ? <Link to={`/runs/${s.last_workflow_id}`} title={s.last_workflow_id}>{formatTime(s.last_run_at)}</Link> : formatTime(s.last_run_at)}</td>
        <td title={`${s.skipped_count} skipped`}>{s.run_count}</td>
        <td className="nowrap">
          <div className="actions">
            {s.enabled ? (
              <button type="button" onClick={() => onAction("pause")}>Pause</button>
            ) : (
              <button type="button" onClick={() => onAction("resume")}>Resume</button>
            )}
            <button type="button" onClick={() => onAction("trigger")}>Trigger</button>
          </div>
        </td>
      </tr>
      {open && (
        <tr id={`schedule-${s.id}`}>
          <td colSpan={8}>
            <ScheduleDetails id={s.id} />
          </td>
        </tr>
      )}
    </>
  );
}

function ScheduleDetails({ id }: { id: string }) {
  const detail = usePolled((signal) => api<ScheduleDetail>(`/schedules/${encodeURIComponent(id)}`, { signal }), [id], POLL_MS);
  const d = detail.data;
  if (detail.error) return <ErrorBox error={detail.error} />;
  if (!d) return <p className="muted">Loading…</p>;
  return (
    <div className="schedule-detail">
      <div>
        <h2>Next occurrences</h2>
        {d.upcoming.length === 0 ? <p className="muted">None planned.</p> : (
          <ol className="plain" data-testid="upcoming">
            {d.upcoming.map((t) => <li key={t}>{formatTime(t)}</li>)}
          </ol>
        )}
        {d.note && <p className="muted small">Note: {d.note}</p>}
      </div>
      <div>
        <h2>Recent runs</h2>
        {d.recent_runs.length === 0 ? <p className="muted">No runs yet.</p> : (
          <table className="table" aria-label={`Recent runs of ${d.name}`}>
            <thead>
              <tr>
                <th scope="col">Occurrence</th>
                <th scope="col">Outcome</th>
                <th scope="col">Run</th>
              </tr>
            </thead>
            <tbody>
              {d.recent_runs.map((r) => (
                <tr key={r.occurrence_at + r.recorded_at} data-testid="schedule-run">
                  <td>{formatTime(r.occurrence_at)}</td>
                  <td title={r.message ?? undefined}>{r.outcome}</td>
                  <td>{r.workflow_id ? <Link to={`/runs/${r.workflow_id}`} className="mono" title={r.workflow_id}>{shortId(r.workflow_id)}</Link> : "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </div>
  );
}
