import { clearToken, getToken } from "./auth";

/** An answer other than 2xx, with the server's error envelope when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fieldErrors?: Record<string, string[]>,
  ) {
    super(message);
  }
}

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();
/** Called when the server refuses the token (expired or revoked): the app goes back to the sign-in page. */
export function onUnauthorized(listener: Listener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

export async function api<T>(path: string, init: RequestInit & { json?: unknown; signal?: AbortSignal } = {}): Promise<T> {
  const headers = new Headers(init.headers);
  headers.set("accept", "application/json");
  const token = getToken();
  if (token) headers.set("authorization", `Bearer ${token}`);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set("content-type", "application/json");
    body = JSON.stringify(init.json);
  }
  const response = await fetch(`/api/v1${path}`, { ...init, headers, body, credentials: "omit" });
  const text = await response.text();
  const data = text ? safeParse(text) : null;
  if (!response.ok) {
    const envelope = (data as { error?: { code?: string; message?: string; details?: { field_errors?: Record<string, string[]> } } } | null)?.error;
    if (response.status === 401 && token) {
      clearToken();
      unauthorizedListeners.forEach((l) => l());
    }
    throw new ApiError(response.status, envelope?.code ?? "HTTP_" + response.status, envelope?.message ?? response.statusText, envelope?.details?.field_errors);
  }
  return data as T;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Fetches a file through the API (with the token) and hands it to the browser as a download. */
export async function download(path: string, filename: string): Promise<void> {
  const headers = new Headers();
  const token = getToken();
  if (token) headers.set("authorization", `Bearer ${token}`);
  const response = await fetch(path, { headers, credentials: "omit" });
  if (!response.ok) throw new ApiError(response.status, "HTTP_" + response.status, response.statusText);
  saveBlob(await response.blob(), filename);
}

export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export interface Info {
  name: string;
  version: string;
  insecure_dev: boolean;
  features: string[];
}

export interface RunSummary {
  id: string;
  status: string;
  definition_name: string;
  definition_version: string;
  created_at: string;
  updated_at: string;
  error_message: string | null;
  completed_at?: string | null;
  total_cost_usd?: string;
  schedule_id?: string | null;
  scheduled_at?: string | null;
}

export interface RunList {
  workflows: RunSummary[];
  total: number;
  count: number;
  limit: number;
  offset: number;
  next_cursor?: string | null;
  prev_cursor?: string | null;
}

export interface ActivityOutput {
  name: string;
  type: string;
  value: unknown;
}

export interface ActivityRun {
  activity_key: string;
  status: string;
  outputs: ActivityOutput[] | null; // null until the activity has a result
  error: string | null;
  error_detail: { code: string; message: string } | null;
  started_at: string | null;
  claimed_at: string | null;
  completed_at: string | null;
  attempt: number;
  iteration: number;
  map?: MapSummary; // only on a map (for_each) activity
}

/** A map's counts (docs/api.md#map-items); `failures` is filled once the map has finished. */
export interface MapSummary {
  total: number;
  started: number;
  completed: number;
  failed: number;
  running: number;
  failures: { index: number; key: string; status: string; error_code: string | null; error_message: string | null }[];
}

export interface MapItem {
  index: number;
  activity_key: string; // "key[index]"
  item: unknown;
  status: string;
  outputs: ActivityOutput[] | null;
  error_detail: { code: string; message: string } | null;
  attempt: number;
  cost_usd: string;
  started_at: string | null;
  completed_at: string | null;
}

export interface MapItemList {
  workflow_id: string;
  activity_key: string;
  total: number;
  offset: number;
  limit: number;
  items: MapItem[];
}

/** A child workflow a run started through a `workflow:` activity (or a map item of one). */
export interface ChildRun {
  workflow_id: string;
  definition_name: string;
  status: string;
  activity_key: string; // the parent's activity, "key[index]" for a map item
  attempt: number;
  created_at: string;
  completed_at: string | null;
}

export interface Run extends RunSummary {
  completed_at: string | null;
  total_cost_usd: string;
  activities: ActivityRun[];
  parent_id?: string | null;
  parent_activity_key?: string | null;
  children?: ChildRun[];
}

export interface RunEvent {
  id: string;
  workflow_id: string;
  event_type: string;
  activity_key: string | null;
  iteration: number | null;
  payload: unknown;
  timestamp: string;
}

export interface EventPage {
  events: RunEvent[];
  count: number;
  has_more: boolean;
}

export interface Dependency {
  activity_key: string;
  conditions: string[];
  is_back_edge: boolean;
}

export interface ActivityDefinition {
  key: string;
  activity_name?: string; // absent on a `workflow:` activity
  parameters?: Record<string, unknown>;
  depends_on: Dependency[];
  is_loop_activity?: boolean;
  for_each?: unknown; // a map (docs/workflow-format.md#maps)
  workflow?: string; // a child workflow's definition name
  [field: string]: unknown;
}

export interface Definition {
  name: string;
  version: string;
  activities: ActivityDefinition[];
  settings?: Record<string, unknown>;
  created_at: string;
}

export interface DefinitionSummary {
  name: string;
  version: string;
  activity_count: number;
  created_at: string;
}

export interface ActivityFile {
  filename: string;
  size: number;
  content_type: string;
  download_url: string;
}

export interface ActivityResult {
  output: unknown;
  cost_usd: string | null;
  files: ActivityFile[];
}

export interface RunCost {
  total_cost_usd: string;
  budget_limit_usd: string | null;
  budget_remaining_usd: string | null;
}

export const TERMINAL_RUN = new Set(["completed", "failed", "cancelled"]);
export const RUN_STATUSES = ["created", "running", "completed", "failed", "cancelled"];
