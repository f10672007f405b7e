// The shapes of the API answers the dashboard reads (see /openapi.json for the full contract).

export const STATES = ["waiting", "ready", "scheduled", "leased", "completed", "dead", "cancelled"] as const;
export type State = (typeof STATES)[number];

export interface TaskError {
  attempt: number;
  at: string;
  kind: string;
  message: string;
}

export interface Task {
  id: string;
  queue: string;
  state: State;
  payload: unknown;
  priority: number;
  attempts: number;
  max_attempts: number;
  created_at: string;
  run_at: string;
  leased_until?: string | null;
  finished_at?: string | null;
  worker?: string | null;
  group?: string;
  requires?: Record<string, string>;
  progress?: unknown;
  progress_at?: string;
  result?: unknown;
  last_error?: string | null;
  errors: TaskError[];
  dependencies?: Dependency[];
  on_dependency_failure?: "dead" | "cancel" | "run";
  flow?: string;
}

/** One parent of a task, and what the task knows of it. */
export interface Dependency {
  queue: string;
  id: string;
  state: "pending" | "completed" | "dead" | "cancelled" | "gone";
  result?: unknown;
  result_omitted?: boolean;
}

/** A flow (POST /v1/flows) and its tasks' states. */
export interface Flow {
  id: string;
  created_at: string;
  finished: boolean;
  tasks: { ref: string; queue: string; id: string; state: State | null }[];
}

export interface QueueStats {
  name: string;
  counts: Record<State | "quarantined", number>;
  totals: { submitted: number; completed: number; failed: number; dead: number; expired: number; debounced: number };
  oldest_ready_age_ms: number | null;
  groups: { ready: number; held: number };
  schedules: number;
  policy: Record<string, unknown> & { paused: boolean };
}

export interface QueueList {
  queues: QueueStats[];
  next_cursor: string | null;
}

export interface TaskList {
  tasks: Task[];
  next_cursor: string | null;
}

export interface PolicyView {
  queue: string;
  policy: Record<string, unknown>;
  overrides: string[];
  version: number;
  updated_at: string | null;
}

export interface GroupView {
  queue: string;
  group: string;
  counts: { ready: number; scheduled: number; leased: number };
  in_flight: number;
  tokens: number | null;
  state: "turns" | "held" | "idle";
  held_by: string | null;
  limits: { weight: number; max_in_flight: number | null; rate_limit: { per_second: number; burst: number } | null; paused: boolean; ordered: boolean };
  overrides: string[];
  version: number;
  updated_at: string | null;
}

export interface GroupList {
  groups: GroupView[];
  next_cursor: string | null;
}

export interface Reason {
  code: string;
  message: string;
  [number: string]: unknown;
}

export interface Explanation {
  state: State;
  runnable_now: boolean;
  reasons: Reason[];
}

export interface HistoryPoint {
  at: string;
  submitted: number;
  completed: number;
  failed: number;
  dead: number;
  expired: number;
  backlog: number | null;
  in_flight: number | null;
}

export interface QueueHistory {
  queue: string;
  window: "1h" | "24h";
  step_ms: number;
  points: HistoryPoint[];
}

export interface WorkerView {
  name: string;
  queues?: string[];
  last_seen: string;
  leases_held: number;
  leased: number;
  completed: number;
  failed: number;
  labels: Record<string, string>;
}

export interface QueueWorkers {
  queue: string;
  window_ms: number;
  workers: WorkerView[];
  anonymous: Omit<WorkerView, "name" | "queues"> | null;
  unlisted: number;
}

export interface WorkerList {
  window_ms: number;
  workers: WorkerView[];
}

export interface ScheduleRun {
  at: string;
  kind: "tick" | "trigger" | "failed";
  task_id: string | null;
  state: string | null;
  error: string | null;
}

export interface ScheduleView {
  queue: string;
  name: string;
  cron?: string;
  timezone?: string;
  every_ms?: number;
  task: Record<string, unknown>;
  paused: boolean;
  start_at?: string;
  end_at?: string;
  catch_up: "skip" | "latest";
  status: "active" | "paused" | "ended";
  next_runs: string[];
  last_runs: ScheduleRun[];
  runs: { fired: number; triggered: number; missed: number; failed: number };
  version: number;
  created_at: string;
  updated_at: string;
  updated_by: string | null;
}

export interface ScheduleList {
  schedules: ScheduleView[];
  next_cursor: string | null;
}
