import { useEffect, useState, type FormEvent } from "react";
import { api, RUN_STATUSES, TERMINAL_RUN, type DefinitionSummary, type RunList } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { StatusBadge } from "../components/Status";
import { between, formatTime, shortId } from "../format";
import { usePolled } from "../hooks";
import { Link, navigate, useLocation } from "../router";

const PAGE = 50;
const POLL_MS = 3000;

function toIso(local: string): string | null {
  if (!local) return null;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** Every filter lives in the URL, so a filtered view can be shared and survives a reload. */
export function Runs() {
  const { query } = useLocation();
  const status = query.get("status") ?? "";
  const definition = query.get("definition") ?? "";
  const after = query.get("after") ?? "";
  const before = query.get("before") ?? "";
  const offset = Math.max(0, Number(query.get("offset") ?? 0) || 0);
  const [search, setSearch] = useState("");
  const [searchError, setSearchError] = useState<Error | null>(null);

  const definitions = usePolled((signal) => api<{ definitions: DefinitionSummary[] }>("/workflow_definitions", { signal }), []);

  const runs = usePolled(
    (signal) => {
      const params = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
      if (status) params.set("status", status);
      if (definition) params.set("definition_name", definition);
      const a = toIso(after);
      const b = toIso(before);
      if (a) params.set("created_after", a);
      if (b) params.set("created_before", b);
      return api<RunList>(`/workflows?${params}`, { signal });
    },
    [status, definition, after, before, offset],
    POLL_MS,
  );

  function setFilter(name: string, value: string) {
    const next = new URLSearchParams(query);
    if (value) next.set(name, value);
    else next.delete(name);
    next.delete("offset");
    const qs = next.toString();
    navigate(`/runs${qs ? "?" + qs : ""}`, true);
  }

  function page(to: number) {
    const next = new URLSearchParams(query);
    if (to > 0) next.set("offset", String(to));
    else next.delete("offset");
    navigate(`/runs?${next}`);
  }

  async function findRun(e: FormEvent) {
    e.preventDefault();
    const id = search.trim();
    if (!id) return;
    setSearchError(null);
    try {
      await api(`/workflows/${encodeURIComponent(id)}`);
      navigate(`/runs/${encodeURIComponent(id)}`);
    } catch (err) {
      setSearchError(err as Error);
    }
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
          <input id="run-search" placeholder="Go to run id…" value={search} onChange={(e) => setSearch(e.target.value)} />
          <button type="submit">Open</button>
        </form>
      </div>
      <ErrorBox error={searchError} />
      <div className="filters">
        <label>
          Status
          <select value={status} onChange={(e) => setFilter("status", e.target.value)} name="status">
            <option value="">any</option>
            {RUN_STATUSES.map((s) => (
              <option key={s} value={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Definition
          <select value={definition} onChange={(e) => setFilter("definition", e.target.value)} name="definition">
            <option value="">any</option>
            {definitions.data?.definitions.map((d) => (
              <option key={d.name} value={d.name}>{d.name}</option>
            ))}
          </select>
        </label>
        <label>
          Created after
          <input type="datetime-local" value={after} onChange={(e) => setFilter("after", e.target.value)} name="after" />
        </label>
        <label>
          Created before
          <input type="datetime-local" value={before} onChange={(e) => setFilter("before", e.target.value)} name="before" />
        </label>
      </div>
      <ErrorBox error={runs.error} />
      <table className="table" aria-describedby="runs-summary">
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">Status</th>
            <th scope="col">Definition</th>
            <th scope="col">Started</th>
            <th scope="col">Duration</th>
            <th scope="col">Error</th>
          </tr>
        </thead>
        <tbody>
          {data?.workflows.map((run) => (
            <tr key={run.id} data-testid="run-row">
              <td><Link to={`/runs/${run.id}`} className="mono" title={run.id}>{shortId(run.id)}</Link></td>
              <td><StatusBadge status={run.status} /></td>
              <td><Link to={`/definitions/${encodeURIComponent(run.definition_name)}?version=${run.definition_version}`}>{run.definition_name}</Link></td>
              <td>{formatTime(run.created_at)}</td>
              <td>{between(run.created_at, TERMINAL_RUN.has(run.status) ? run.updated_at : null)}</td>
              <td className="truncate" title={run.error_message ?? ""}>{run.error_message ?? ""}</td>
            </tr>
          ))}
          {data && data.workflows.length === 0 && (
            <tr>
              <td colSpan={6} className="muted">No runs match.</td>
            </tr>
          )}
        </tbody>
      </table>
      {data && (
        <nav className="pager" aria-label="Pages">
          <span id="runs-summary" className="muted">
            {data.total === 0 ? "0 runs" : `${offset + 1}–${offset + data.count} of ${data.total.toLocaleString()} runs`} · updates every {POLL_MS / 1000} s
          </span>
          <button type="button" onClick={() => page(Math.max(0, offset - PAGE))} disabled={offset === 0}>
            Newer
          </button>
          <button type="button" onClick={() => page(offset + PAGE)} disabled={offset + data.count >= data.total}>
            Older
          </button>
        </nav>
      )}
    </section>
  );
}
