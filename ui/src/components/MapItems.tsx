import { Fragment, useEffect, useRef, useState } from "react";
import { api, type ActivityDefinition, type ChildRun, type MapItemList, type MapSummary } from "../api";
import { between, money } from "../format";
import { usePolled, useThrottled } from "../hooks";
import { Link } from "../router";
import { ErrorBox } from "./ErrorBox";
import { JsonView } from "./JsonView";
import { StatusBadge } from "./Status";

/** Items per page: a map can have 10,000 items, and only one page is fetched and rendered at a time. */
export const ITEMS_PAGE = 50;

/** "37/40 done · 2 failed · 1 running": done counts every settled item, failed ones included. Plain digits: it fits a node. */
export function mapProgressText(m: MapSummary): string {
  const parts = [`${m.completed + m.failed}/${m.total} done`];
  if (m.failed > 0) parts.push(`${m.failed} failed`);
  if (m.running > 0) parts.push(`${m.running} running`);
  return parts.join(" · ");
}

/** A thin bar of the map's completed (and failed) share; the text next to it says the same for screen readers. */
export function MapBar({ map }: { map: MapSummary }) {
  const pct = (n: number) => `${map.total > 0 ? (n / map.total) * 100 : 100}%`;
  return (
    <span className="map-bar" aria-hidden="true">
      <span className="map-bar-ok" style={{ width: pct(map.completed) }} />
      <span className="map-bar-failed" style={{ width: pct(map.failed) }} />
    </span>
  );
}

/** What an activity runs, for the graph and the panel: its handler, or the child workflow, marked when it is a map. */
export function describeActivity(a: ActivityDefinition, full = false): string {
  const what = a.workflow ? (full ? `workflow ${a.workflow}` : "workflow") : (a.activity_name ?? "");
  return a.for_each !== undefined ? `${what} · for each` : what;
}

/** The newest child run started for a parent activity (or map item) key: a retry starts a new child. */
export function latestChild(children: ChildRun[] | undefined, activityKey: string): ChildRun | undefined {
  let found: ChildRun | undefined;
  for (const c of children ?? []) if (c.activity_key === activityKey && (!found || c.attempt >= found.attempt)) found = c;
  return found;
}

function itemLabel(item: unknown): string {
  const text = typeof item === "string" ? item : JSON.stringify(item) ?? "";
  return text.length > 60 ? text.slice(0, 60) + "…" : text;
}

/**
 * A map's items, a page at a time (GET …/activities/{key}/items), reloaded when the run's events say an item moved
 * (`version`), at most twice a second. A row opens to the item's value, output and error; failed items are marked
 * and, once the map has finished, listed above the table with a jump to each.
 */
export function MapItems({ runId, activityKey, map, childRuns, isWorkflow, version }: {
  runId: string;
  activityKey: string;
  map: MapSummary | undefined;
  childRuns: ChildRun[] | undefined;
  isWorkflow: boolean;
  version: number;
}) {
  const [offset, setOffset] = useState(0);
  const [open, setOpen] = useState<number | null>(null);
  const [seen, setSeen] = useState(version);
  const versionRef = useRef(version);
  versionRef.current = version;
  const catchUp = useThrottled(() => setSeen(versionRef.current), 500);
  useEffect(() => {
    if (version !== seen) catchUp();
  }, [version, seen, catchUp]);
  useEffect(() => {
    setOffset(0);
    setOpen(null);
  }, [runId, activityKey]);
  const page = usePolled(
    (signal) => api<MapItemList>(`/workflows/${encodeURIComponent(runId)}/activities/${encodeURIComponent(activityKey)}/items?offset=${offset}&limit=${ITEMS_PAGE}`, { signal }),
    [runId, activityKey, offset, seen],
  );
  const data = page.data?.activity_key === activityKey ? page.data : null;
  const total = data?.total ?? map?.total ?? 0;
  const failures = map?.failures ?? [];
  const jump = (index: number) => {
    setOffset(Math.floor(index / ITEMS_PAGE) * ITEMS_PAGE);
    setOpen(index);
  };
  const columns = isWorkflow ? 7 : 6;

  return (
    <section className="map-items" aria-label={`Items of ${activityKey}`}>
      <h3>Items</h3>
      {map && (
        <p className="small" data-testid="map-progress">
          <MapBar map={map} /> {mapProgressText(map)}
        </p>
      )}
      {failures.length > 0 && (
        <p className="small" data-testid="map-failures">
          <span className="status-failed">Failed:</span>{" "}
          {failures.slice(0, 20).map((f, i) => (
            <Fragment key={f.index}>
              {i > 0 && ", "}
              <button type="button" className="link" onClick={() => jump(f.index)} title={f.error_message ?? f.status}>
                #{f.index}
              </button>
              {f.error_code ? <span className="muted"> {f.error_code}</span> : null}
            </Fragment>
          ))}
          {failures.length > 20 && <span className="muted"> and {(failures.length - 20).toLocaleString()} more</span>}
        </p>
      )}
      <ErrorBox error={page.error} />
      {!data && !page.error && <p className="muted small">Loading items…</p>}
      {data && data.items.length === 0 && <p className="muted small">{total === 0 ? "The map has no items (yet)." : "No items on this page."}</p>}
      {data && data.items.length > 0 && (
        <div className="table-wrap">
          <table className="table items" aria-label={`Items of ${activityKey}, ${offset + 1} to ${offset + data.items.length}`}>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">Item</th>
                <th scope="col">Status</th>
                <th scope="col" className="num" title="Attempt">Try</th>
                <th scope="col" className="num">Time</th>
                <th scope="col" className="num">Cost</th>
                {isWorkflow && <th scope="col">Run</th>}
              </tr>
            </thead>
            <tbody>
              {data.items.map((it) => {
                const failed = it.status === "failed" || it.status === "cancelled";
                const expanded = open === it.index;
                const child = isWorkflow ? latestChild(childRuns, it.activity_key) : undefined;
                return (
                  <Fragment key={it.index}>
                    <tr className={failed ? "item-failed" : undefined} data-testid="map-item" data-status={it.status}>
                      <td className="num">
                        <button type="button" className="link" aria-expanded={expanded} aria-label={`Item ${it.index}${failed ? `, ${it.status}` : ""}`} onClick={() => setOpen(expanded ? null : it.index)}>
                          {it.index}
                        </button>
                      </td>
                      <td className="mono small truncate item-value" title={typeof it.item === "string" ? it.item : JSON.stringify(it.item)}>{itemLabel(it.item)}</td>
                      <td><StatusBadge status={it.status} /></td>
                      <td className="num">{it.attempt}</td>
                      <td className="num nowrap">{it.started_at && it.completed_at ? between(it.started_at, it.completed_at) : "—"}</td>
                      <td className="num">{money(it.cost_usd)}</td>
                      {isWorkflow && <td>{child ? <Link to={`/runs/${child.workflow_id}`} aria-label={`Child run of item ${it.index}`}>run</Link> : "—"}</td>}
                    </tr>
                    {expanded && (
                      <tr className="item-detail">
                        <td colSpan={columns}>
                          <h4>Item</h4>
                          <JsonView value={it.item} name={`${it.activity_key}-item`} />
                          {it.error_detail && (
                            <div className="error" role="status"><strong>{it.error_detail.code}</strong>: {it.error_detail.message}</div>
                          )}
                          {(it.outputs ?? []).map((o) => (
                            <Fragment key={o.name}>
                              <h4>Output {o.name}</h4>
                              <JsonView value={o.value} name={`${it.activity_key}-${o.name}`} />
                            </Fragment>
                          ))}
                          {child && (
                            <p className="small">
                              Child run <Link to={`/runs/${child.workflow_id}`}>{child.definition_name}</Link> <StatusBadge status={child.status} />
                            </p>
                          )}
                        </td>
                      </tr>
                    )}
                  </Fragment>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {total > ITEMS_PAGE && (
        <div className="pager">
          <span className="small muted">
            {(offset + 1).toLocaleString()}–{Math.min(total, offset + ITEMS_PAGE).toLocaleString()} of {total.toLocaleString()}
          </span>
          <button type="button" disabled={offset === 0} onClick={() => setOffset(0)}>First</button>
          <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - ITEMS_PAGE))}>Previous</button>
          <button type="button" disabled={offset + ITEMS_PAGE >= total} onClick={() => setOffset(offset + ITEMS_PAGE)}>Next</button>
        </div>
      )}
    </section>
  );
}
