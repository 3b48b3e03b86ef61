// Live events over Socket.IO (engine/server/realtime/socketio.py, docs/socketio.md): one connection, rooms
// joined on demand and joined again after a reconnect (the server then sends a fresh `snapshot`).
// Views ask `useOnline()` to show when what they display may be stale, and `useReconnected()` to
// re-read the server's state when the connection comes back.
import { useEffect, useRef, useState } from "preact/hooks";
import { io, type Socket } from "socket.io-client";
import { BASE, BASE_PATH } from "./base";

export type LiveHandler = (event: string, data: any) => void;

export interface LiveStep {
  name: string;
  position: number;
  status: string;
  attempts: number;
  started_at: string | null;
  finished_at: string | null;
  error: string | null;
  /** While `retrying`: when the next attempt is due (from the StepRetrying event's delay). */
  next_attempt_at?: string | null;
}

export interface LiveRun {
  id: string;
  job: string;
  status: string;
  triggered_by: string;
  dry_run: boolean;
  started_at: string;
  finished_at: string | null;
  error: string | null;
  steps: LiveStep[];
  last_seq: number;
}

export class Live {
  private socket: Socket | null = null;
  private handlers = new Set<LiveHandler>();
  private rooms = new Map<string, number>();
  private statusHandlers = new Set<(connected: boolean) => void>();
  private refused: (why: string) => void = () => {};

  /** `token` null: the host application's sign-in (its cookie or header) is what the server checks. */
  connect(token: string | null, onRefused: (why: string) => void): void {
    this.disconnect();
    this.refused = onRefused;
    const socket = io(BASE.origin, {
      path: `${BASE_PATH}socket.io`,
      auth: token === null ? {} : { token },
      reconnectionDelay: 500,
      reconnectionDelayMax: 3000,
    });
    socket.on("connect", () => {
      for (const room of this.rooms.keys()) socket.emit("join", { room });
      this.statusHandlers.forEach((handler) => handler(true));
    });
    socket.on("disconnect", () => this.statusHandlers.forEach((handler) => handler(false)));
    socket.on("connect_error", (error: Error & { data?: { status?: number; detail?: string } }) => {
      this.statusHandlers.forEach((handler) => handler(false));
      // The server refuses a caller it does not know (401) for good: reconnecting as the same caller
      // would never work. Its message is a sentence; `data` has the status and the reason alone.
      if (error.data?.status === 401) {
        this.disconnect();
        this.refused(error.data.detail ?? error.message);
      }
    });
    socket.onAny((event: string, data: unknown) => this.handlers.forEach((handler) => handler(event, data)));
    this.socket = socket;
  }

  disconnect(): void {
    this.socket?.disconnect();
    this.socket = null;
  }

  get connected(): boolean {
    return this.socket?.connected ?? false;
  }

  onStatus(handler: (connected: boolean) => void): () => void {
    this.statusHandlers.add(handler);
    return () => void this.statusHandlers.delete(handler);
  }

  /** Receive every event while subscribed; join `room` meanwhile (rooms are counted, shared). */
  subscribe(room: string, handler: LiveHandler): () => void {
    this.handlers.add(handler);
    const count = this.rooms.get(room) ?? 0;
    this.rooms.set(room, count + 1);
    if (count === 0 && this.socket?.connected) this.socket.emit("join", { room });
    return () => {
      this.handlers.delete(handler);
      const left = (this.rooms.get(room) ?? 1) - 1;
      if (left > 0) {
        this.rooms.set(room, left);
        return;
      }
      this.rooms.delete(room);
      if (room !== "jobs" && this.socket?.connected) this.socket.emit("leave", { room });
    };
  }
}

export const live = new Live();

/** Whether the live connection is up (a view shows "offline" and disables actions when it is not). */
export function useOnline(): boolean {
  const [online, setOnline] = useState(live.connected);
  useEffect(() => {
    setOnline(live.connected);
    return live.onStatus(setOnline);
  }, []);
  return online;
}

/** Call `reload` each time the connection comes back after being lost: what was shown may be stale. */
export function useReconnected(reload: () => void): void {
  const latest = useRef(reload);
  latest.current = reload;
  useEffect(() => {
    let lost = !live.connected;
    return live.onStatus((connected) => {
      if (!connected) lost = true;
      else if (lost) {
        lost = false;
        latest.current();
      }
    });
  }, []);
}

export function liveRunOf(state: any): LiveRun {
  return {
    id: state.run.id,
    job: state.run.job,
    status: state.run.status,
    triggered_by: state.run.triggered_by,
    dry_run: state.run.dry_run,
    started_at: state.run.started_at,
    finished_at: state.run.finished_at ?? null,
    error: state.run.error ?? null,
    steps: state.steps,
    last_seq: state.last_seq,
  };
}

/** The run with one event applied (events at or below its last_seq are already in it). */
export function applyEvent(run: LiveRun, event: string, data: any): LiveRun {
  if (typeof data?.seq !== "number" || data.seq <= run.last_seq) return run;
  const next = { ...run, last_seq: data.seq };
  const patchStep = (patch: (step: LiveStep) => Partial<LiveStep>): LiveRun => {
    let found = false;
    const steps = run.steps.map((step) => {
      if (step.name !== data.step) return step;
      found = true;
      return { ...step, ...patch(step) };
    });
    if (!found) {
      const blank: LiveStep = {
        name: data.step,
        position: data.position ?? steps.length,
        status: "pending",
        attempts: 0,
        started_at: null,
        finished_at: null,
        error: null,
      };
      steps.push({ ...blank, ...patch(blank) });
    }
    return { ...next, steps };
  };
  switch (event) {
    case "StepStarted":
      // A step's start is its first attempt's: a later attempt's start must not reset it.
      return patchStep((step) => ({
        status: "running",
        attempts: data.attempt,
        started_at: step.started_at ?? data.at,
        next_attempt_at: null,
      }));
    case "StepRetrying":
      return patchStep(() => ({
        status: "retrying",
        attempts: data.attempt,
        error: data.error,
        next_attempt_at: new Date(Date.parse(data.at) + (data.delay_seconds ?? 0) * 1000).toISOString(),
      }));
    case "StepFinished":
      return patchStep((step) => ({
        status: data.status,
        attempts: data.attempts,
        started_at: step.started_at ?? (data.status === "skipped" ? null : data.at),
        finished_at: data.at,
        error: data.error,
        next_attempt_at: null,
      }));
    case "RunFinished":
      return { ...next, status: data.status, finished_at: data.at, error: data.error ?? null };
    case "RunSkipped":
      return { ...next, status: "skipped", finished_at: data.at, error: data.reason ?? null };
    default:
      return next;
  }
}

export function runOfStarted(data: any): LiveRun {
  return {
    id: data.run_id,
    job: data.job,
    status: "running",
    triggered_by: data.triggered_by,
    dry_run: data.dry_run,
    started_at: data.at,
    finished_at: null,
    error: null,
    steps: (data.steps as string[]).map((name, position) => ({
      name,
      position,
      status: "pending",
      attempts: 0,
      started_at: null,
      finished_at: null,
      error: null,
    })),
    last_seq: data.seq,
  };
}
