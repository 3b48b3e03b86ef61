// The REST API (engine/server/api_*.py): typed calls with the session's bearer token.

export type Role = "viewer" | "operator" | "admin";
export type RunStatus = "running" | "succeeded" | "failed" | "aborted" | "skipped";

export interface Session {
  token: string;
  subject: string;
  role: Role;
  expires_at: string;
}

export interface RunSummary {
  id: string;
  status: RunStatus;
  triggered_by: string;
  started_at: string;
  finished_at: string | null;
}

export interface Job {
  name: string;
  app: string;
  description: string;
  schedule: string | null;
  timezone: string;
  enabled: boolean;
  paused: boolean;
  state: { paused: boolean; changed_by: string; changed_at: string; reason: string | null } | null;
  next_fire: string | null;
  running: string | null;
  last_run: RunSummary | null;
  params: Record<string, unknown>;
  steps: { name: string; type: string; description: string }[];
}

export interface Run {
  id: string;
  job: string;
  app: string;
  status: RunStatus;
  triggered_by: string;
  params: Record<string, unknown>;
  dry_run: boolean;
  scheduled_for: string | null;
  started_at: string;
  finished_at: string | null;
  error: string | null;
  owner: string | null;
  resumed_from: string | null;
}

export interface Step {
  position: number;
  name: string;
  type: string;
  status: string;
  attempts: number;
  started_at: string | null;
  finished_at: string | null;
  input: Record<string, unknown> | null;
  output: unknown;
  error: string | null;
}

export interface RunDetail extends Run {
  steps: Step[];
}

export interface RunPage {
  runs: Run[];
  next_cursor: string | null;
}

export interface Diagrams {
  run: string;
  steps: { step: string; status: string; mermaid: string }[];
}

export interface TriggerOut {
  run_id: string;
  job: string;
  status: RunStatus;
  triggered_by: string;
}

const SESSION_KEY = "nomaflow.session";

export function loadSession(): Session | null {
  try {
    const session = JSON.parse(localStorage.getItem(SESSION_KEY) ?? "null") as Session | null;
    if (session && Date.parse(session.expires_at) > Date.now()) return session;
  } catch {
    // a damaged entry is the same as none
  }
  localStorage.removeItem(SESSION_KEY);
  return null;
}

export function saveSession(session: Session): void {
  localStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

export function clearSession(): void {
  localStorage.removeItem(SESSION_KEY);
}

/** An error answer; `fields` maps a body field (e.g. a param's name) to what was wrong with it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly fields: Record<string, string> = {},
  ) {
    super(message);
  }
}

let unauthorized: () => void = () => {};

/** Called when the server refuses the token (expired, user removed): the app goes back to Login. */
export function onUnauthorized(handler: () => void): void {
  unauthorized = handler;
}

async function errorOf(response: Response): Promise<ApiError> {
  let detail: unknown = response.statusText;
  try {
    detail = ((await response.json()) as { detail?: unknown }).detail ?? detail;
  } catch {
    // not JSON: keep the status text
  }
  if (Array.isArray(detail)) {
    const fields: Record<string, string> = {};
    const messages: string[] = [];
    for (const item of detail as { loc?: unknown[]; msg?: string }[]) {
      const loc = item.loc ?? [];
      const field = String(loc[loc.length - 1] ?? "");
      if (field) fields[field] = item.msg ?? "invalid";
      messages.push(item.msg ?? "invalid");
    }
    return new ApiError(response.status, messages.join("; "), fields);
  }
  return new ApiError(response.status, String(detail));
}

export async function request<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const session = loadSession();
  const headers: Record<string, string> = { Accept: "application/json" };
  if (session) headers.Authorization = `Bearer ${session.token}`;
  if (init.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method: init.method ?? "GET",
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  if (response.status === 401 && session) {
    clearSession();
    unauthorized();
  }
  if (!response.ok) throw await errorOf(response);
  return (await response.json()) as T;
}

export async function login(username: string, password: string): Promise<Session> {
  const out = await request<{ access_token: string; subject: string; role: Role; expires_at: string }>(
    "/admin/login",
    { method: "POST", body: { username, password } },
  );
  const session = { token: out.access_token, subject: out.subject, role: out.role, expires_at: out.expires_at };
  saveSession(session);
  return session;
}

const enc = encodeURIComponent;

export const api = {
  jobs: () => request<Job[]>("/admin/jobs"),
  runJob: (name: string, params: Record<string, unknown>, dryRun: boolean) =>
    request<TriggerOut>(`/admin/jobs/${enc(name)}/run`, { method: "POST", body: { params, dry_run: dryRun } }),
  pause: (name: string) => request<Job>(`/admin/jobs/${enc(name)}/pause`, { method: "POST" }),
  resume: (name: string) => request<Job>(`/admin/jobs/${enc(name)}/resume`, { method: "POST" }),
  runs: (query: URLSearchParams) => request<RunPage>(`/admin/runs?${query}`),
  run: (id: string) => request<RunDetail>(`/admin/runs/${enc(id)}`),
  diagram: (id: string) => request<Diagrams>(`/admin/runs/${enc(id)}/diagram`),
  abort: (id: string) => request<unknown>(`/admin/runs/${enc(id)}/abort`, { method: "POST" }),
  retry: (id: string) => request<TriggerOut>(`/admin/runs/${enc(id)}/retry`, { method: "POST" }),
};

export function can(session: Session | null, role: Role): boolean {
  const rank = { viewer: 1, operator: 2, admin: 3 };
  return session !== null && rank[session.role] >= rank[role];
}
