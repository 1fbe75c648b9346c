import { Graph as LayoutGraph, layout } from "@dagrejs/dagre";
import { Background, Controls, Handle, MarkerType, Position, ReactFlow, type Edge, type Node, type NodeChange, type NodeProps } from "@xyflow/react";
import { memo, useCallback, useMemo, useRef } from "react";
import type { ActivityDefinition, ActivityRun, ChildRun, MapSummary } from "../api";
import { Link } from "../router";
import { describeActivity, latestChild, MapBar, mapProgressText } from "./MapItems";

const WIDTH = 190;
const HEIGHT = 64;
/** A map's progress or a child run's link takes one more line. */
const heightOf = (a: ActivityDefinition) => (a.for_each !== undefined || a.workflow ? HEIGHT + 20 : HEIGHT);

export type ActivityNodeData = {
  key: string;
  activityName: string;
  status?: string;
  attempt?: number;
  iteration?: number;
  selected: boolean;
  map?: MapSummary;
  childWorkflow?: string;
  childRunId?: string;
};

const ActivityNode = memo(function ActivityNode({ data }: NodeProps<Node<ActivityNodeData>>) {
  const status = data.status ?? "definition";
  return (
    <div className={`flow-node status-${status}${data.selected ? " selected" : ""}`} data-testid={`node-${data.key}`} data-status={status} title={data.childWorkflow ? `runs workflow ${data.childWorkflow}` : undefined}>
      <Handle type="target" position={Position.Top} isConnectable={false} />
      <div className="flow-node-key">{data.key}</div>
      <div className="flow-node-meta">
        <span>{data.activityName}</span>
        {data.status && <span className="flow-node-status">{data.status.replace("_", " ")}</span>}
      </div>
      {(data.attempt ?? 0) > 1 || (data.iteration ?? 0) > 0 ? (
        <div className="flow-node-meta small">
          {(data.attempt ?? 0) > 1 && <span>attempt {data.attempt}</span>}
          {(data.iteration ?? 0) > 0 && <span>iteration {data.iteration}</span>}
        </div>
      ) : null}
      {data.map && (
        <div className="flow-node-map">
          <span data-testid={`map-progress-${data.key}`} title={mapProgressText(data.map)}>{mapProgressText(data.map)}</span>
          <MapBar map={data.map} />
        </div>
      )}
      {data.childWorkflow && !data.map && (
        <div className="flow-node-child">
          {data.childRunId ? (
            <Link to={`/runs/${data.childRunId}`} className="nodrag nopan" aria-label={`Child run of ${data.key}`}>→ {data.childWorkflow}</Link>
          ) : (
            <span>→ {data.childWorkflow}</span>
          )}
        </div>
      )}
      <Handle type="source" position={Position.Bottom} isConnectable={false} />
    </div>
  );
});

const nodeTypes = { activity: ActivityNode };

/** The latest state of each activity key (a loop has one row per iteration). */
export function latestByKey(activities: ActivityRun[]): Map<string, ActivityRun> {
  const latest = new Map<string, ActivityRun>();
  for (const a of activities) {
    const seen = latest.get(a.activity_key);
    if (!seen || a.iteration > seen.iteration || (a.iteration === seen.iteration && a.attempt > seen.attempt)) latest.set(a.activity_key, a);
  }
  return latest;
}

/**
 * The definition's graph laid out top to bottom by dagre. Loop back-edges are left out of the layout (so the
 * graph stays a DAG for ranking) and drawn afterwards as dashed "loop" edges; conditional edges carry "if".
 */
export function WorkflowGraph({ activities, runActivities, childRuns, selected, onSelect }: {
  activities: ActivityDefinition[];
  runActivities?: ActivityRun[];
  childRuns?: ChildRun[];
  selected?: string | null;
  onSelect?: (key: string) => void;
}) {
  const positions = useMemo(() => {
    const g = new LayoutGraph();
    g.setGraph({ rankdir: "TB", nodesep: 40, ranksep: 60, marginx: 10, marginy: 10 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const a of activities) g.setNode(a.key, { width: WIDTH, height: heightOf(a) });
    for (const a of activities) {
      for (const d of a.depends_on ?? []) if (!d.is_back_edge && g.hasNode(d.activity_key)) g.setEdge(d.activity_key, a.key);
    }
    layout(g);
    const result = new Map<string, { x: number; y: number }>();
    for (const key of g.nodes()) {
      const n = g.node(key);
      result.set(key, { x: n.x - WIDTH / 2, y: n.y - n.height / 2 });
    }
    return result;
  }, [activities]);

  const latest = useMemo(() => latestByKey(runActivities ?? []), [runActivities]);

  // The sizes React Flow measured, handed back on every rebuilt node: a node object without `measured` loses its
  // handle positions, and its edges stay hidden until it is measured again (which a selection change may not do).
  const measured = useRef(new Map<string, { width: number; height: number }>());
  const onNodesChange = useCallback((changes: NodeChange<Node<ActivityNodeData>>[]) => {
    for (const c of changes) if (c.type === "dimensions" && c.dimensions) measured.current.set(c.id, c.dimensions);
  }, []);

  // Memoised so that a parent re-render (another request answering) hands React Flow the same node objects:
  // new objects drop the measured sizes and React Flow hides the nodes until it measures them again.
  // initialWidth/initialHeight keep a node visible (and fitView right) before the first measurement too.
  const nodes: Node<ActivityNodeData>[] = useMemo(() => activities.map((a) => {
    const run = latest.get(a.key);
    // A single child workflow links to its run; a map of them links each item from the panel.
    const child = a.workflow && a.for_each === undefined ? latestChild(childRuns, a.key) : undefined;
    return {
      id: a.key,
      type: "activity",
      position: positions.get(a.key) ?? { x: 0, y: 0 },
      initialWidth: WIDTH,
      initialHeight: heightOf(a),
      measured: measured.current.get(a.key),
      data: {
        key: a.key,
        activityName: describeActivity(a),
        status: runActivities ? run?.status ?? "not_scheduled" : undefined,
        attempt: run?.attempt,
        iteration: run?.iteration,
        selected: selected === a.key,
        map: run?.map,
        childWorkflow: a.workflow,
        childRunId: child?.workflow_id,
      },
      draggable: false,
      connectable: false,
      ariaLabel: `${a.key}${run ? `, ${run.status}` : ""}${run?.map ? `, ${mapProgressText(run.map)}` : ""}`,
    };
  }), [activities, positions, latest, runActivities, childRuns, selected]);

  const edges: Edge[] = useMemo(() => activities.flatMap((a) =>
    (a.depends_on ?? []).map((d) => {
      const skipped = latest.get(a.key)?.status === "skipped";
      return {
        id: `${d.activity_key}->${a.key}`,
        source: d.activity_key,
        target: a.key,
        label: d.is_back_edge ? "loop" : d.conditions.length > 0 ? "if" : undefined,
        type: d.is_back_edge ? "smoothstep" : "default",
        animated: d.is_back_edge,
        className: [d.is_back_edge ? "edge-loop" : "", d.conditions.length ? "edge-conditional" : "", skipped ? "edge-skipped" : ""].join(" ").trim(),
        markerEnd: { type: MarkerType.ArrowClosed },
        ...(d.is_back_edge ? { sourceHandle: undefined, targetHandle: undefined } : {}),
      };
    }),
  ), [activities, latest]);

  return (
    <div className="graph" role="figure" aria-label="Workflow graph">
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        fitView
        fitViewOptions={{ padding: 0.15, maxZoom: 1.2 }}
        nodesDraggable={false}
        nodesConnectable={false}
        onNodeClick={(_, node) => onSelect?.(node.id)}
        onNodesChange={onNodesChange}
        minZoom={0.2}
      >
        <Background gap={24} size={1} />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}
