// Types of the operator pages' routes (docs/api.md): queues, schedules, costs and clients.

export interface QueueWorker {
  worker_id: string;
  first_seen_at: string;
  last_seen_at: string;
  last_seen_seconds_ago: number;
  slots: number;
  in_flight: number;
}

export interface QueueInfo {
  routing_key: string;
  ready: number;
  delayed: number;
  running: number;
  oldest_ready_at: string | null;
  oldest_wait_seconds: number | null;
  next_delayed_at: string | null;
  workers: QueueWorker[];
}

export interface QueueList {
  queues: QueueInfo[];
  worker_window_seconds: number;
  generated_at: string;
}

export interface Schedule {
  id: string;
  name: string;
  definition_name: string;
  definition_version?: string | null;
  cron?: string | null;
  interval_seconds?: number | null;
  timezone?: string;
  overlap_policy?: string;
  enabled: boolean;
  next_run_at: string | null;
  last_run_at: string | null;
  last_workflow_id: string | null;
  note: string | null;
  run_count: number;
  skipped_count: number;
  upcoming: string[];
  declared_by: string | null;
}

export interface ScheduleRun {
  occurrence_at: string;
  outcome: string;
  workflow_id: string | null;
  message: string | null;
  recorded_at: string;
}

export interface ScheduleDetail extends Schedule {
  recent_runs: ScheduleRun[];
}

export interface TriggerOutcome {
  schedule_id: string;
  outcome: string;
  workflow_id: string | null;
  message: string | null;
}

export interface SpendPoint {
  key: string;
  cost_usd: string;
}

export interface SpendBucket {
  start: string;
  total_cost_usd: string;
  costs: SpendPoint[];
  other_cost_usd: string;
}

export interface CostSpend {
  bucket: "day" | "hour";
  by: "definition" | "model" | "provider";
  start_date: string;
  end_date: string;
  total_cost_usd: string;
  series: { key: string; total_cost_usd: string }[];
  other_cost_usd: string;
  buckets: SpendBucket[];
}

export interface WorkflowCostTotal {
  workflow_id: string;
  definition_name: string;
  status: string;
  created_at: string;
  total_cost_usd: string;
  activities: number;
  budget_limit_usd: string | null;
}

export interface BudgetEventLine {
  workflow_id: string;
  definition_name: string;
  activity_key: string;
  event: string;
  estimated_cost_usd: string | null;
  budget_limit_usd: string | null;
  created_at: string;
}

export interface CostAnalytics {
  total_workflows: number;
  total_cost_usd: string;
  total_activities: number;
  total_tokens: number;
  budget_aborts: number;
  budget_downgrades: number;
  top_workflows: WorkflowCostTotal[];
  budget_events: BudgetEventLine[];
}

export interface Client {
  client_id: string;
  name: string;
  scopes: string[];
  active: boolean;
  created_at: string;
  revoked_at: string | null;
}

export interface CreatedClient {
  client_id: string;
  client_secret: string;
  name: string;
  scopes: string[];
}

export const SCOPES = ["workflows", "worker", "admin"] as const;

/** Whether a session's scopes allow client management (admin grants everything; the server enforces it). */
export function canManageClients(scopes: string[]): boolean {
  return scopes.includes("admin");
}
