import { useMemo, useState, type FormEvent } from "react";
import { api } from "../api";
import { Confirm } from "./Confirm";
import { ErrorBox } from "./ErrorBox";

/** The event name a waiting activity expects, from its definition (`wait_for_signal: name` or `{event_name}`). */
export function expectedEvent(settings: unknown): string {
  const wait = (settings as { wait_for_signal?: unknown } | undefined)?.wait_for_signal;
  if (typeof wait === "string") return wait;
  const name = (wait as { event_name?: unknown } | undefined)?.event_name;
  return typeof name === "string" ? name : "";
}

/** Sends a signal to one waiting activity, with its data as JSON, after a confirmation. */
export function SignalForm({ runId, activityKey, eventName, onSent }: { runId: string; activityKey: string; eventName: string; onSent: () => void }) {
  const [event, setEvent] = useState(eventName);
  const [data, setData] = useState("{}");
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const [result, setResult] = useState<string | null>(null);
  const parsed = useMemo(() => {
    try {
      return { value: JSON.parse(data) as unknown };
    } catch (e) {
      return { problem: (e as Error).message };
    }
  }, [data]);

  function review(e: FormEvent) {
    e.preventDefault();
    if ("value" in parsed && event.trim()) setConfirming(true);
  }

  async function send() {
    if (!("value" in parsed)) return;
    setBusy(true);
    setError(null);
    try {
      const answer = await api<{ signaled: boolean; message: string }>(`/workflows/${encodeURIComponent(runId)}/signal`, {
        method: "POST",
        json: { activity_key: activityKey, event_name: event.trim(), data: parsed.value },
      });
      setResult(answer.message);
      onSent();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
      setConfirming(false);
    }
  }

  return (
    <form className="signal" onSubmit={review} aria-label={`Signal ${activityKey}`}>
      <h4>Send a signal</h4>
      <label>
        Event name
        <input value={event} onChange={(e) => setEvent(e.target.value)} required />
      </label>
      <label>
        Data (JSON)
        <textarea rows={4} spellCheck={false} value={data} onChange={(e) => setData(e.target.value)} aria-invalid={"problem" in parsed} />
      </label>
      <p className="small error-text" aria-live="polite">{"problem" in parsed ? parsed.problem : ""}</p>
      <ErrorBox error={error} />
      {result && <p className="small" role="status">{result}</p>}
      <button type="submit" disabled={busy || "problem" in parsed || !event.trim()}>Send signal…</button>
      <Confirm open={confirming} title={`Signal ${activityKey}?`} confirmLabel="Send signal" busy={busy} onConfirm={() => void send()} onClose={() => setConfirming(false)}>
        <p>
          <code>{activityKey}</code> receives <code>{event.trim()}</code> with this data and runs with it.
        </p>
      </Confirm>
    </form>
  );
}
