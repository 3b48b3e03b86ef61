// Each job's recent runs, for the Jobs page's success rate and duration trend: the last runs of every
// job read a few jobs at a time, and a job's read again when one of its runs ends.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, type Run } from "./api";
import { live, useReconnected } from "./live";

export const HISTORY_SIZE = 30;
const PARALLEL = 3; // requests at once: a few hundred jobs must not flood the server on page load

export type Histories = Map<string, Run[]>;

export function useJobHistories(names: string[]): Histories {
  const [histories, setHistories] = useState<Histories>(new Map());
  const queue = useRef<Set<string>>(new Set());
  const busy = useRef(0);
  const alive = useRef(true);
  const key = names.join("\n");

  const pump = () => {
    while (busy.current < PARALLEL && queue.current.size > 0) {
      const name = queue.current.values().next().value as string;
      queue.current.delete(name);
      busy.current += 1;
      api
        .runs(new URLSearchParams({ job: name, limit: String(HISTORY_SIZE) }))
        .then(
          (page) => alive.current && setHistories((all) => new Map(all).set(name, page.runs)),
          () => {}, // the table still shows everything else; the next reload tries again
        )
        .finally(() => {
          busy.current -= 1;
          pump();
        });
    }
  };
  const read = (wanted: string[]) => {
    for (const name of wanted) queue.current.add(name);
    pump();
  };

  useEffect(() => {
    alive.current = true;
    if (key) read(key.split("\n"));
    return () => {
      alive.current = false;
    };
  }, [key]);
  useReconnected(() => key && read(key.split("\n")));
  useEffect(() => {
    const timers = new Map<string, ReturnType<typeof setTimeout>>();
    const unsubscribe = live.subscribe("jobs", (event, data) => {
      if ((event !== "RunFinished" && event !== "RunSkipped") || !data?.job) return;
      clearTimeout(timers.get(data.job));
      timers.set(
        data.job,
        setTimeout(() => read([data.job]), 300),
      );
    });
    return () => {
      unsubscribe();
      timers.forEach((timer) => clearTimeout(timer));
    };
  }, []);
  return histories;
}

export interface Trend {
  finished: number;
  succeeded: number;
  skipped: number;
  /** Oldest first: each finished run's duration in ms and status. */
  bars: { id: string; ms: number; status: string }[];
}

export function trendOf(runs: Run[]): Trend {
  const bars = [];
  let succeeded = 0;
  let skipped = 0;
  for (const run of [...runs].reverse()) {
    if (run.status === "skipped") {
      skipped += 1;
      continue;
    }
    if (run.status === "running" || !run.finished_at) continue;
    if (run.status === "succeeded") succeeded += 1;
    bars.push({ id: run.id, ms: Date.parse(run.finished_at) - Date.parse(run.started_at), status: run.status });
  }
  return { finished: bars.length, succeeded, skipped, bars };
}
