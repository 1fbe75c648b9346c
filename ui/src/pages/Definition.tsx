import { useEffect, useMemo, useState, type FormEvent } from "react";
import { api, type Definition as DefinitionData, type DefinitionSummary } from "../api";
import { DefinitionDiff } from "../components/DefinitionDiff";
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
  const tab = (["graph", "yaml", "diff"] as const).find((t) => t === query.get("tab")) ?? "graph";
  const versions = usePolled((signal) => api<{ definitions: DefinitionSummary[] }>("/workflow_definitions", { signal }), [name]);
  const versionList = (versions.data?.definitions ?? []).filter((v) => v.name === name);
  function setQuery(changes: Record<string, string | null>) {
    const next = new URLSearchParams(query);
    for (const [k, v] of Object.entries(changes)) {
      if (v) next.set(k, v);
      else next.delete(k);
    }
    navigate(`/definitions/${encodeURIComponent(name)}?${next}`, true);
  }
  const setTab = (t: string) => setQuery({ tab: t === "graph" ? null : t });
  useEffect(() => {
    document.title = `${name} · Spindle`;
  }, [name]);

  const d = definition.data;
  const yaml = useMemo(() => (d ? definitionYaml(d) : ""), [d]);
  if (definition.error) return <ErrorBox error={definition.error} />;
  if (!d) return <p className="muted">Loading…</p>;
  return (
    <section aria-labelledby="def-title">
      <div className="page-head">
        <div>
          <p className="crumbs"><Link to="/definitions">Definitions</Link> /</p>
          <h1 id="def-title">{d.name}</h1>
          <p className="muted small">
            <label className="inline">
              Version{" "}
              <select value={d.version} onChange={(e) => setQuery({ version: e.target.value })} name="version">
                {(versionList.length ? versionList : [{ version: d.version }]).map((v, i) => (
                  <option key={v.version} value={v.version}>{v.version}{i === 0 && versionList.length ? " (latest)" : ""}</option>
                ))}
              </select>
            </label>{" "}
            · deployed {formatTime(d.created_at)} · {versionList.length || 1} {versionList.length === 1 ? "version" : "versions"} · <Link to={`/runs?definition=${encodeURIComponent(d.name)}`}>runs</Link>
          </p>
        </div>
      </div>
      <div className="tabs" role="tablist" aria-label="Definition views">
        <button type="button" role="tab" aria-selected={tab === "graph"} onClick={() => setTab("graph")}>Graph</button>
        <button type="button" role="tab" aria-selected={tab === "yaml"} onClick={() => setTab("yaml")}>YAML</button>
        <button type="button" role="tab" aria-selected={tab === "diff"} onClick={() => setTab("diff")} disabled={versionList.length < 2} title={versionList.length < 2 ? "Only one version is deployed" : undefined}>
          Diff
        </button>
      </div>
      {tab === "graph" ? (
        <WorkflowGraph activities={d.activities} />
      ) : tab === "diff" ? (
        <VersionDiff name={d.name} current={d} versions={versionList.map((v) => v.version)} against={query.get("against")} onAgainst={(v) => setQuery({ against: v })} />
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

function definitionYaml(d: DefinitionData): string {
  return toYaml({ name: d.name, ...(d.settings ? { settings: d.settings } : {}), activities: d.activities });
}

/** The shown version against another one (by default the one before it), as a line diff of their YAML. */
function VersionDiff({ name, current, versions, against, onAgainst }: { name: string; current: DefinitionData; versions: string[]; against: string | null; onAgainst: (v: string) => void }) {
  const index = versions.indexOf(current.version);
  const other = against && versions.includes(against) && against !== current.version ? against : versions[index + 1] ?? versions[index - 1] ?? null;
  const older = usePolled(
    (signal) => (other ? api<DefinitionData>(`/workflow_definitions/${encodeURIComponent(name)}?version=${encodeURIComponent(other)}`, { signal }) : Promise.resolve(null)),
    [name, other],
  );
  if (!other) return <p className="muted">Only one version is deployed.</p>;
  const base = older.data && older.data.version === other ? older.data : null;
  // Oldest on the left: what changed going from the earlier version to the later one.
  const [a, b] = base && base.version > current.version ? [current, base] : [base, current];
  return (
    <>
      <label className="inline">
        Compare with{" "}
        <select value={other} onChange={(e) => onAgainst(e.target.value)} name="against">
          {versions.filter((v) => v !== current.version).map((v) => (
            <option key={v} value={v}>{v}</option>
          ))}
        </select>
      </label>
      <ErrorBox error={older.error} />
      {a && b ? <DefinitionDiff from={definitionYaml(a)} to={definitionYaml(b)} fromLabel={a.version} toLabel={b.version} /> : <p className="muted">Loading…</p>}
    </>
  );
}

function StartRun({ name, version }: { name: string; version: string }) {
  const [input, setInput] = useState("{}");
  const [uniqueKey, setUniqueKey] = useState("");
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
      const created = await api<{ workflow_id: string }>("/workflows", { method: "POST", json: { definition_name: name, version, input: parsed.value, ...(uniqueKey ? { unique_key: uniqueKey } : {}) } });
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
      <label>
        Unique key (optional: no second run with this key while one is active)
        <input name="unique_key" value={uniqueKey} onChange={(e) => setUniqueKey(e.target.value)} spellCheck={false} autoComplete="off" />
      </label>
      <ErrorBox error={error} />
      <button type="submit" className="primary" disabled={busy || "problem" in parsed}>
        {busy ? "Starting…" : `Start ${name}`}
      </button>
    </form>
  );
}
