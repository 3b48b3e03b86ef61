// A run's whole log, kept in seq order: the lines steps logged and the state transitions, as the REST
// API stores them (GET /admin/runs/{id}/logs), plus what arrives live. It reads the stored log from the
// start a page at a time while the live tail (the join's snapshot, then each event) is shown at once;
// every seq up to `complete` is held, and what is above it is the live part, replaced by the stored
// rows as the reading catches up. A gap in the live seqs (a dropped event) is read from the store.
import { api, type LogRow } from "./api";

const PAGE = 1000;

export function isTransition(row: LogRow): boolean {
  return row.fields?.event === "transition";
}

export class RunLog {
  rows: LogRow[] = [];
  /** Every row with seq <= complete is held. */
  complete = 0;
  /** Whether the stored log has been read to its end (at the time of the last read). */
  caughtUp = false;
  /** The highest seq the run is known to have: from the snapshot, then from events. */
  lastSeq = 0;
  version = 0;
  /** The first row index changed since `takeChangedFrom()` was last called (rows.length: none). */
  private changedFrom = 0;
  private reading = false;
  private again = false;
  private stopped = false;
  private listeners = new Set<() => void>();

  constructor(readonly runId: string) {}

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  stop(): void {
    this.stopped = true;
    this.listeners.clear();
  }

  /** Where the rows changed since the last call: a viewer re-filters from there, not from the start. */
  takeChangedFrom(): number {
    const from = this.changedFrom;
    this.changedFrom = this.rows.length;
    return from;
  }

  private changed(from: number = this.rows.length): void {
    this.changedFrom = Math.min(this.changedFrom, from);
    this.version += 1;
    this.listeners.forEach((listener) => listener());
  }

  /** Read the stored log from `complete` on, a page at a time, until its end. */
  async read(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    try {
      // Again when a gap showed up meanwhile; a few times at most, so a seq the store never had (a
      // row dropped before its commit) cannot keep it reading.
      for (let round = 0; round < 3 && (round === 0 || this.again || this.hasGap()); round += 1) {
        this.again = false;
        for (;;) {
          const page = await api.logs(this.runId, this.complete, PAGE);
          if (this.stopped) return;
          this.takeStored(page.lines);
          if (page.lines.length < PAGE) break;
        }
        this.caughtUp = true;
        this.changed();
      }
    } finally {
      this.reading = false;
    }
  }

  /** Rows read from the store, all above `complete` and contiguous from it. */
  private takeStored(lines: LogRow[]): void {
    if (lines.length === 0) return;
    const last = lines[lines.length - 1].seq;
    // Live rows up to `last` are replaced by the stored ones (which also hold the transitions).
    let held = this.rows.length;
    while (held > 0 && this.rows[held - 1].seq > this.complete) held -= 1;
    const kept = this.rows.slice(held).filter((row) => row.seq > last);
    this.rows.length = held;
    for (const line of lines) this.rows.push(line);
    for (const row of kept) this.rows.push(row);
    this.complete = last;
    this.lastSeq = Math.max(this.lastSeq, last);
    this.changed(held);
  }

  /** A row that arrived live (or in the snapshot's tail). */
  addLive(row: LogRow): void {
    this.lastSeq = Math.max(this.lastSeq, row.seq);
    if (row.seq <= this.complete) return;
    const rows = this.rows;
    let index = rows.length;
    if (rows.length === 0 || rows[rows.length - 1].seq < row.seq) rows.push(row);
    else {
      // Out of order (a snapshot's tail after early events): insert in place, unless already held.
      while (index > 0 && rows[index - 1].seq > row.seq) index -= 1;
      if (index > 0 && rows[index - 1].seq === row.seq) return;
      rows.splice(index, 0, row);
    }
    if (this.caughtUp && this.hasGap()) this.read().catch(() => {}); // read again on reconnect
    this.changed(index);
  }

  /** Whether some seq between `complete` and the newest row held is missing. */
  private hasGap(): boolean {
    let above = 0;
    for (let index = this.rows.length - 1; index >= 0 && this.rows[index].seq > this.complete; index -= 1) above += 1;
    const newest = this.rows.length ? this.rows[this.rows.length - 1].seq : this.complete;
    return above !== Math.max(newest - this.complete, 0);
  }

  /** How much of the run's log is read from the store, 0 to 1 (for a progress line). */
  get progress(): number {
    if (this.caughtUp || this.lastSeq === 0) return 1;
    return Math.min(1, this.complete / this.lastSeq);
  }
}

const RUN_TRIGGERS: Record<string, string> = { succeeded: "succeed", failed: "fail", aborted: "abort" };

/** The log row the store writes for the transition a live event reports (engine/store/writes.py), so
 * a live view reads the same as a reloaded one. `before` is the step's status before the event. */
export function transitionOfEvent(event: string, data: any, before: string | undefined): LogRow | null {
  let step: string | null = null;
  let trigger: string;
  let source: string;
  let dest: string;
  let attempt: number | null = null;
  let error: string | null = null;
  switch (event) {
    case "RunStarted":
      [trigger, source, dest] = ["admit", "pending", "running"];
      break;
    case "RunSkipped":
      [trigger, source, dest, error] = ["skip", "pending", "skipped", data.reason ?? null];
      break;
    case "RunFinished":
      [trigger, source, dest, error] = [RUN_TRIGGERS[data.status] ?? data.status, "running", data.status, data.error ?? null];
      break;
    case "StepStarted":
      step = data.step;
      attempt = data.attempt;
      [trigger, source, dest] = data.attempt > 1 ? ["resume", "retrying", "running"] : ["start", "pending", "running"];
      break;
    case "StepRetrying":
      step = data.step;
      attempt = data.attempt;
      [trigger, source, dest, error] = ["retry", "running", "retrying", data.error ?? null];
      break;
    case "StepFinished": {
      step = data.step;
      attempt = data.attempts;
      dest = data.status;
      error = data.error ?? null;
      const from = before ?? "running";
      trigger =
        dest === "succeeded"
          ? from === "pending"
            ? "reuse"
            : "succeed"
          : dest === "failed"
            ? "fail"
            : dest === "aborted"
              ? "abort"
              : "skip";
      source = dest === "skipped" ? "pending" : dest === "succeeded" && from === "pending" ? "pending" : from;
      break;
    }
    default:
      return null;
  }
  const fields: Record<string, unknown> = { event: "transition", machine: step === null ? "run" : "step", step, trigger, source, dest, attempt };
  if (error !== null) fields.error = error;
  const subject = step === null ? "run" : `step '${step}'`;
  return {
    seq: data.seq,
    at: data.at,
    step,
    level: trigger === "fail" ? "error" : "info",
    message: `${subject}: ${source} -> ${dest} (${trigger})`,
    fields,
  };
}
