import { useEffect } from "react";
import { api, type DefinitionSummary } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { formatTime } from "../format";
import { usePolled } from "../hooks";
import { Link } from "../router";

export function Definitions() {
  const list = usePolled((signal) => api<{ definitions: DefinitionSummary[]; total: number }>("/workflow_definitions", { signal }), []);
  useEffect(() => {
    document.title = "Definitions · Spindle";
  }, []);
  // The API lists every version, newest first within a name: one row per name, with its count of versions.
  const byName = new Map<string, { latest: DefinitionSummary; versions: number }>();
  for (const d of list.data?.definitions ?? []) {
    const seen = byName.get(d.name);
    if (seen) seen.versions++;
    else byName.set(d.name, { latest: d, versions: 1 });
  }
  return (
    <section aria-labelledby="defs-title">
      <div className="page-head">
        <h1 id="defs-title">Definitions</h1>
      </div>
      <ErrorBox error={list.error} />
      <table className="table">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Latest version</th>
            <th scope="col">Versions</th>
            <th scope="col">Activities</th>
            <th scope="col">Deployed</th>
            <th scope="col"><span className="visually-hidden">Runs</span></th>
          </tr>
        </thead>
        <tbody>
          {[...byName.values()].map(({ latest: d, versions }) => (
            <tr key={d.name} data-testid="definition-row">
              <td><Link to={`/definitions/${encodeURIComponent(d.name)}`}>{d.name}</Link></td>
              <td className="mono small">{d.version}</td>
              <td>{versions > 1 ? <Link to={`/definitions/${encodeURIComponent(d.name)}?tab=diff`}>{versions}</Link> : versions}</td>
              <td>{d.activity_count}</td>
              <td>{formatTime(d.created_at)}</td>
              <td><Link to={`/runs?definition=${encodeURIComponent(d.name)}`}>runs</Link></td>
            </tr>
          ))}
          {list.data && list.data.definitions.length === 0 && (
            <tr>
              <td colSpan={6} className="muted">Nothing deployed yet: <code>spindle deploy FILE.yaml</code>.</td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
