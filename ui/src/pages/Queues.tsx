import { useEffect } from "react";
import { api } from "../api";
import { type QueueInfo, type QueueList } from "../api/ops";
import { ErrorBox } from "../components/ErrorBox";
import { formatDuration, formatTime } from "../format";
import { usePolled } from "../hooks";

const POLL_MS = 3000;

/** Why a run is stuck, in one line per routing key. */
function verdict(q: QueueInfo): { text: string; tone: "failed" | "pending" | "completed" | "skipped" } {
  if (q.ready > 0 && q.workers.length === 0) return { text: "No worker polls this key: ready activities wait until one does", tone: "failed" };
  if (q.ready > 0) return { text: `Waiting for a free slot (${q.running} running on ${q.workers.length} worker${q.workers.length === 1 ? "" : "s"})`, tone: "pending" };
  if (q.delayed > 0 && q.running === 0) return { text: "Retries waiting for their backoff", tone: "skipped" };
  return { text: q.workers.length === 0 ? "Idle, no workers" : "Keeping up", tone: q.workers.length === 0 ? "skipped" : "completed" };
}

export function Queues() {
  const queues = usePolled((signal) => api<QueueList>("/queues", { signal }), [], POLL_MS);

  useEffect(() => {
    document.title = "Workers & queues · Spindle";
  }, []);

  const data = queues.data;
  return (
    <section aria-labelledby="queues-title">
      <div className="page-head">
        <h1 id="queues-title">Workers &amp; queues</h1>
        <p className="muted small">
          Activities are queued per routing key (an activity's <code>worker</code>); a worker polls one key.
          {data && <> Workers are listed when they polled in the last {data.worker_window_seconds} s. Updates every {POLL_MS / 1000} s.</>}
        </p>
      </div>
      <ErrorBox error={queues.error} />
      <table className="table" aria-label="Queues">
        <thead>
          <tr>
            <th scope="col">Routing key</th>
            <th scope="col">Ready</th>
            <th scope="col">Delayed</th>
            <th scope="col">Running</th>
            <th scope="col">Oldest wait</th>
            <th scope="col">Workers</th>
            <th scope="col">State</th>
          </tr>
        </thead>
        <tbody>
          {data?.queues.map((q) => {
            const v = verdict(q);
            return (
              <tr key={q.routing_key} data-testid="queue-row" data-key={q.routing_key}>
                <th scope="row" className="mono">{q.routing_key}</th>
                <td>{q.ready}</td>
                <td title={q.next_delayed_at ? `next at ${formatTime(q.next_delayed_at)}` : undefined}>{q.delayed}</td>
                <td>{q.running}</td>
                <td title={q.oldest_ready_at ? `ready since ${formatTime(q.oldest_ready_at)}` : undefined}>
                  {q.oldest_wait_seconds === null ? "—" : formatDuration(q.oldest_wait_seconds * 1000)}
                </td>
                <td>
                  {q.workers.length === 0 ? (
                    <span className="muted">none</span>
                  ) : (
                    <ul className="plain small">
                      {q.workers.map((w) => (
                        <li key={w.worker_id} data-testid="queue-worker">
                          <span className="mono">{w.worker_id}</span>{" "}
                          <span className="muted">
                            {w.in_flight} running · asked for {w.slots} · seen {formatDuration(w.last_seen_seconds_ago * 1000)} ago
                          </span>
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
                <td><span className={`badge status-${v.tone}`}>{v.text}</span></td>
              </tr>
            );
          })}
          {data && data.queues.length === 0 && (
            <tr>
              <td colSpan={7} className="muted">Nothing queued and no workers seen.</td>
            </tr>
          )}
        </tbody>
      </table>
      <p className="muted small">
        Slots are the <code>max_activities</code> of a worker's latest recorded poll; a worker that asks for more work while
        busy shows fewer. Presence is recorded at most every few seconds per worker, by whichever server it polls.
      </p>
    </section>
  );
}
