import { useEffect, useMemo, useState, type FormEvent } from "react";
import { api, type Definition as DefinitionData } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { WorkflowGraph } from "../components/Graph";
import { formatTime } from "../format";
import { usePolled } from "../hooks";
import { Link, navigate, useLocation } from "../router";
import { toYaml } from "../yaml";

export function Definition({ name }: { name: string }) {
  const { query } = useLocation();
  const version = query.get("version");
  const definition = usePolled(
    (signal) => api<DefinitionData>(`/workflow_definitions/${encodeURIComponent(name)}${version ? `?version=${encodeURIComponent(version)}` : ""}`, { signal }),
    [name, version],
  );
  const [tab, setTab] = useState<"graph" | "yaml">("graph");
  useEffect(() => {
    document.title = `${name} · Spindle`;
  }, [name]);

  const d = definition.data;
  const yaml = useMemo(() => (d ? toYaml({ name: d.name, ...(d.settings ? { settings: d.settings } : {}), activities: d.activities }) : ""), [d]);
  if (definition.error) return <ErrorBox error={definition.error} />;
  if (!d) return <p className="muted">Loading…</p>;
  return (
    <section aria-labelledby="def-title">
      <div className="page-head">
        <div>
          <p className="crumbs"><Link to="/definitions">Definitions</Link> /</p>
          <h1 id="def-title">{d.name}</h1>
          <p className="muted small">
            version <span className="mono">{d.version}</span> · deployed {formatTime(d.created_at)} · <Link to={`/runs?definition=${encodeURIComponent(d.name)}`}>runs</Link>
          </p>
        </div>
      </div>
      <div className="tabs" role="tablist" aria-label="Definition views">
        <button type="button" role="tab" aria-selected={tab === "graph"} onClick={() => setTab("graph")}>Graph</button>
        <button type="button" role="tab" aria-selected={tab === "yaml"} onClick={() => setTab("yaml")}>YAML</button>
      </div>
      {tab === "graph" ? (
        <WorkflowGraph activities={d.activities} />
      ) : (
        <>
          <p className="muted small">The normalised form the server stored (defaults filled in, dependencies spelled out).</p>
          <pre className="code" tabIndex={0} aria-label="Definition YAML">{yaml}</pre>
        </>
      )}
      <StartRun name={d.name} version={d.version} />
    </section>
  );
}

function StartRun({ name, version }: { name: string; version: string }) {
  const [input, setInput] = useState("{}");
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const parsed = useMemo(() => {
    try {
      const value = JSON.parse(input) as unknown;
      return value !== null && typeof value === "object" && !Array.isArray(value) ? { value } : { problem: "The input must be a JSON object" };
    } catch (e) {
      return { problem: (e as Error).message };
    }
  }, [input]);

  async function start(e: FormEvent) {
    e.preventDefault();
    if (!("value" in parsed)) return;
    setBusy(true);
    setError(null);
    try {
      const created = await api<{ workflow_id: string }>("/workflows", { method: "POST", json: { definition_name: name, version, input: parsed.value } });
      navigate(`/runs/${created.workflow_id}`);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="start-run" onSubmit={start} aria-labelledby="start-title">
      <h2 id="start-title">Start a run</h2>
      <label htmlFor="run-input">Input (JSON object)</label>
      <textarea id="run-input" rows={6} spellCheck={false} value={input} onChange={(e) => setInput(e.target.value)} aria-invalid={"problem" in parsed} aria-describedby="input-problem" />
      <p id="input-problem" className="small error-text" aria-live="polite">{"problem" in parsed ? parsed.problem : ""}</p>
      <ErrorBox error={error} />
      <button type="submit" className="primary" disabled={busy || "problem" in parsed}>
        {busy ? "Starting…" : `Start ${name}`}
      </button>
    </form>
  );
}
