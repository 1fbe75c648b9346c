import { Graph as LayoutGraph, layout } from "@dagrejs/dagre";
import { Background, Controls, Handle, MarkerType, Position, ReactFlow, type Edge, type Node, type NodeProps } from "@xyflow/react";
import { memo, useMemo } from "react";
import type { ActivityDefinition, ActivityRun } from "../api";

const WIDTH = 190;
const HEIGHT = 64;

export type ActivityNodeData = { key: string; activityName: string; status?: string; attempt?: number; iteration?: number; selected: boolean };

const ActivityNode = memo(function ActivityNode({ data }: NodeProps<Node<ActivityNodeData>>) {
  const status = data.status ?? "definition";
  return (
    <div className={`flow-node status-${status}${data.selected ? " selected" : ""}`} data-testid={`node-${data.key}`} data-status={status}>
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
export function WorkflowGraph({ activities, runActivities, selected, onSelect }: {
  activities: ActivityDefinition[];
  runActivities?: ActivityRun[];
  selected?: string | null;
  onSelect?: (key: string) => void;
}) {
  const positions = useMemo(() => {
    const g = new LayoutGraph();
    g.setGraph({ rankdir: "TB", nodesep: 40, ranksep: 60, marginx: 10, marginy: 10 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const a of activities) g.setNode(a.key, { width: WIDTH, height: HEIGHT });
    for (const a of activities) {
      for (const d of a.depends_on ?? []) if (!d.is_back_edge && g.hasNode(d.activity_key)) g.setEdge(d.activity_key, a.key);
    }
    layout(g);
    const result = new Map<string, { x: number; y: number }>();
    for (const key of g.nodes()) {
      const n = g.node(key);
      result.set(key, { x: n.x - WIDTH / 2, y: n.y - HEIGHT / 2 });
    }
    return result;
  }, [activities]);

  const latest = useMemo(() => latestByKey(runActivities ?? []), [runActivities]);

  // Memoised so that a parent re-render (another request answering) hands React Flow the same node objects:
  // new objects drop the measured sizes and React Flow hides the nodes until it measures them again.
  // initialWidth/initialHeight keep a node visible (and fitView right) before the first measurement too.
  const nodes: Node<ActivityNodeData>[] = useMemo(() => activities.map((a) => {
    const run = latest.get(a.key);
    return {
      id: a.key,
      type: "activity",
      position: positions.get(a.key) ?? { x: 0, y: 0 },
      initialWidth: WIDTH,
      initialHeight: HEIGHT,
      data: { key: a.key, activityName: a.activity_name, status: runActivities ? run?.status ?? "not_scheduled" : undefined, attempt: run?.attempt, iteration: run?.iteration, selected: selected === a.key },
      draggable: false,
      connectable: false,
      ariaLabel: `${a.key}${run ? `, ${run.status}` : ""}`,
    };
  }), [activities, positions, latest, runActivities, selected]);

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
        minZoom={0.2}
      >
        <Background gap={24} size={1} />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}
