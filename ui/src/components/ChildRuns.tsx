import { useState } from "react";
import { api, type ChildRun, type RunSummary } from "../api";
import { between, formatTime, shortId } from "../format";
import { usePolled } from "../hooks";
import { Link } from "../router";
import { StatusBadge } from "./Status";

const PAGE = 50;

/** The run that started this one (a `workflow:` activity), named by its definition once it has loaded. */
export function ParentLink({ parentId, activityKey }: { parentId: string; activityKey: string | null | undefined }) {
  const parent = usePolled((signal) => api<RunSummary>(`/workflows/${encodeURIComponent(parentId)}`, { signal }), [parentId]);
  return (
    <>
      <Link to={`/runs/${parentId}`} data-testid="parent-link">{parent.data?.definition_name ?? shortId(parentId)}</Link>
      {activityKey && <span className="muted small"> · activity <span className="mono">{activityKey}</span></span>}
    </>
  );
}

/** The child workflows a run started, oldest first, a page at a time (a map of sub-workflows can start thousands). */
export function ChildRuns({ runs }: { runs: ChildRun[] }) {
  const [offset, setOffset] = useState(0);
  const shown = runs.slice(offset, offset + PAGE);
  return (
    <>
      <div className="table-wrap">
        <table className="table" aria-label="Child runs">
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Activity</th>
              <th scope="col" className="num">Attempt</th>
              <th scope="col">Status</th>
              <th scope="col">Started</th>
              <th scope="col">Duration</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((c) => (
              <tr key={c.workflow_id} data-testid="child-row">
                <td>
                  <Link to={`/runs/${c.workflow_id}`}>{c.definition_name}</Link> <span className="mono muted small">{shortId(c.workflow_id)}</span>
                </td>
                <td className="mono small">{c.activity_key}</td>
                <td className="num">{c.attempt}</td>
                <td><StatusBadge status={c.status} /></td>
                <td className="nowrap">{formatTime(c.created_at)}</td>
                <td className="nowrap">{between(c.created_at, c.completed_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {runs.length > PAGE && (
        <div className="pager">
          <span className="small muted">
            {offset + 1}–{Math.min(runs.length, offset + PAGE)} of {runs.length.toLocaleString()}
          </span>
          <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>Previous</button>
          <button type="button" disabled={offset + PAGE >= runs.length} onClick={() => setOffset(offset + PAGE)}>Next</button>
        </div>
      )}
    </>
  );
}
