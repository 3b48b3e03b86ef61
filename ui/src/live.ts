// Live events over Socket.IO (engine/server/realtime.py): one connection, rooms joined on demand and
// joined again after a reconnect (the server then sends a fresh `snapshot`).
import { io, type Socket } from "socket.io-client";

export type LiveHandler = (event: string, data: any) => void;

export interface LiveLine {
  seq: number;
  at: string;
  step: string | null;
  level: string;
  message: string;
  fields: Record<string, unknown> | null;
}

export interface LiveStep {
  name: string;
  position: number;
  status: string;
  attempts: number;
  started_at: string | null;
  finished_at: string | null;
  error: string | null;
}

export interface LiveRun {
  id: string;
  job: string;
  status: string;
  triggered_by: string;
  dry_run: boolean;
  started_at: string;
  steps: LiveStep[];
  last_seq: number;
}

export class Live {
  private socket: Socket | null = null;
  private handlers = new Set<LiveHandler>();
  private rooms = new Map<string, number>();
  private statusHandlers = new Set<(connected: boolean) => void>();

  connect(token: string): void {
    this.disconnect();
    const socket = io({ path: "/socket.io", auth: { token }, reconnectionDelayMax: 5000 });
    socket.on("connect", () => {
      for (const room of this.rooms.keys()) socket.emit("join", { room });
      this.statusHandlers.forEach((handler) => handler(true));
    });
    socket.on("disconnect", () => this.statusHandlers.forEach((handler) => handler(false)));
    socket.on("connect_error", () => this.statusHandlers.forEach((handler) => handler(false)));
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
    return () => this.statusHandlers.delete(handler);
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

export function liveRunOf(state: any): LiveRun {
  return {
    id: state.run.id,
    job: state.run.job,
    status: state.run.status,
    triggered_by: state.run.triggered_by,
    dry_run: state.run.dry_run,
    started_at: state.run.started_at,
    steps: state.steps,
    last_seq: state.last_seq,
  };
}

/** The run with one event applied (events at or below its last_seq are already in it). */
export function applyEvent(run: LiveRun, event: string, data: any): LiveRun {
  if (typeof data?.seq !== "number" || data.seq <= run.last_seq) return run;
  const next = { ...run, last_seq: data.seq };
  const patchStep = (patch: Partial<LiveStep>): LiveRun => {
    let found = false;
    const steps = run.steps.map((step) => {
      if (step.name !== data.step) return step;
      found = true;
      return { ...step, ...patch };
    });
    if (!found) {
      steps.push({
        name: data.step,
        position: data.position ?? steps.length,
        status: "pending",
        attempts: 0,
        started_at: null,
        finished_at: null,
        error: null,
        ...patch,
      });
    }
    return { ...next, steps };
  };
  switch (event) {
    case "StepStarted":
      return patchStep({ status: "running", attempts: data.attempt, started_at: data.at, error: null });
    case "StepRetrying":
      return patchStep({ status: "retrying", attempts: data.attempt, error: data.error });
    case "StepFinished":
      return patchStep({
        status: data.status,
        attempts: data.attempts,
        finished_at: data.at,
        error: data.error,
      });
    case "RunFinished":
    case "RunSkipped":
      return { ...next, status: data.status ?? "skipped" };
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
