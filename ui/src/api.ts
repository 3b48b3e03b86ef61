// The REST API (engine/server/api_*.py): typed calls with the session's bearer token, relative to the
// app's base (base.ts). Errors are ApiErrors whose message an operator can act on.
import { serverUrl } from "./base";
import { noteServerDate } from "./clock";
import { noteJobZones } from "./time";

export type Role = "viewer" | "operator" | "admin";
export type RunStatus = "running" | "succeeded" | "failed" | "aborted" | "skipped";

/** Who is signed in. `token` is null when the application Nomaflow is mounted in signed the user in
 * (its own cookie or header goes with every request): then there is no Nomaflow sign-in to end. */
export interface Session {
  token: string | null;
  subject: string;
  role: Role;
  expires_at: string | null;
}

/** GET admin/session: whether the server already knows the caller without a token of ours. */
interface SessionInfo {
  signed_in: boolean;
  subject: string | null;
  role: Role | null;
  reason: string | null;
  password_sign_in: boolean;
  host_sign_in: boolean;
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
  steps: { name: string; type: string; description: string; dry_run: boolean }[];
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
  /** It ran dry (its own `dry_run`, or the run's): it counted what it would do and changed nothing. */
  dry_run: boolean;
}

export interface RunDetail extends Run {
  steps: Step[];
}

export interface RunPage {
  runs: Run[];
  next_cursor: string | null;
}

/** A row of a run's log: a line a step logged, or a state transition (`fields.event == "transition"`). */
export interface LogRow {
  seq: number;
  at: string;
  step: string | null;
  level: string;
  message: string;
  fields: Record<string, unknown> | null;
}

export interface LogPage {
  lines: LogRow[];
  last_seq: number;
  run_status: RunStatus;
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
    if (session && typeof session.token === "string" && Date.parse(session.expires_at ?? "") > Date.now())
      return session;
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
  hostSignedIn = null;
}

// A session the host application holds (no token of ours): kept in memory only, the host's cookie or
// header is what the server checks.
let hostSignedIn: Session | null = null;

/** The session to use: ours from a sign-in, else the host application's when it has signed the user in
 * (asked once, on start-up), else null (the sign-in form). `offer` says what the form should tell. */
export async function hostSession(): Promise<{ session: Session | null; notice: string | null }> {
  const info = await request<SessionInfo>("admin/session");
  if (info.signed_in && info.subject && info.role) {
    hostSignedIn = { token: null, subject: info.subject, role: info.role, expires_at: null };
    return { session: hostSignedIn, notice: null };
  }
  const notice =
    info.host_sign_in && !info.password_sign_in
      ? `Sign in to the application that hosts Nomaflow, then reload this page (${info.reason}).`
      : null;
  return { session: null, notice };
}

/** An error answer; `fields` maps a body field (e.g. a param's name) to what was wrong with it.
 * `status` 0 means the server could not be reached at all. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly fields: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const UNREACHABLE = "The connection to the server is lost: it may be restarting. Try again in a moment.";

let unauthorized: (why: string) => void = () => {};

/** Called when the server refuses the token (expired, forged, user removed): the app goes back to the
 * sign-in form, which shows `why`. */
export function onUnauthorized(handler: (why: string) => void): void {
  unauthorized = handler;
}

export function sessionRefused(detail: string): void {
  clearSession();
  unauthorized(`Your session is no longer valid (${detail}): please sign in again.`);
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

/** `path` is relative to the app's base: "admin/jobs". */
export async function request<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const session = loadSession() ?? hostSignedIn;
  const headers: Record<string, string> = { Accept: "application/json" };
  if (session?.token) headers.Authorization = `Bearer ${session.token}`;
  if (init.body !== undefined) headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(serverUrl(path), {
      method: init.method ?? "GET",
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
  } catch {
    throw new ApiError(0, UNREACHABLE);
  }
  noteServerDate(response.headers.get("Date"));
  if (response.status === 401 && session) {
    const error = await errorOf(response);
    sessionRefused(error.message);
    throw error;
  }
  if (!response.ok) throw await errorOf(response);
  return (await response.json()) as T;
}

export async function login(username: string, password: string): Promise<Session> {
  const out = await request<{ access_token: string; subject: string; role: Role; expires_at: string }>(
    "admin/login",
    { method: "POST", body: { username, password } },
  );
  const session = { token: out.access_token, subject: out.subject, role: out.role, expires_at: out.expires_at };
  saveSession(session);
  return session;
}

const enc = encodeURIComponent;

export const api = {
  jobs: () =>
    request<Job[]>("admin/jobs").then((jobs) => {
      noteJobZones(jobs);
      return jobs;
    }),
  runJob: (name: string, params: Record<string, unknown>, dryRun: boolean) =>
    request<TriggerOut>(`admin/jobs/${enc(name)}/run`, { method: "POST", body: { params, dry_run: dryRun } }),
  pause: (name: string) => request<Job>(`admin/jobs/${enc(name)}/pause`, { method: "POST" }),
  resume: (name: string) => request<Job>(`admin/jobs/${enc(name)}/resume`, { method: "POST" }),
  runs: (query: URLSearchParams) => request<RunPage>(`admin/runs?${query}`),
  run: (id: string) => request<RunDetail>(`admin/runs/${enc(id)}`),
  logs: (id: string, afterSeq: number, limit: number) =>
    request<LogPage>(`admin/runs/${enc(id)}/logs?after_seq=${afterSeq}&limit=${limit}`),
  diagram: (id: string) => request<Diagrams>(`admin/runs/${enc(id)}/diagram`),
  abort: (id: string) => request<unknown>(`admin/runs/${enc(id)}/abort`, { method: "POST" }),
  retry: (id: string) => request<TriggerOut>(`admin/runs/${enc(id)}/retry`, { method: "POST" }),
};

export function can(session: Session | null, role: Role): boolean {
  const rank = { viewer: 1, operator: 2, admin: 3 };
  return session !== null && rank[session.role] >= rank[role];
}
