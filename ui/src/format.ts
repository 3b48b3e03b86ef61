// How schedules, ids and stored values are shown (times are in time.ts).
import cronstrue from "cronstrue";

export function scheduleInWords(expression: string | null): string {
  if (!expression) return "On demand only";
  try {
    return cronstrue.toString(expression, { use24HourTimeFormat: true, verbose: false });
  } catch {
    return expression;
  }
}

export function pretty(value: unknown): string {
  if (value === undefined || value === null) return "—";
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}

const RUN_ID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

/** The run a skipped run's reason names ("job is already running (run <id>)"), if any. */
export function blockingRunOf(reason: string | null | undefined): string | null {
  return reason ? (RUN_ID.exec(reason)?.[0] ?? null) : null;
}
