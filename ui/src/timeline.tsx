// The run's timeline, Gantt-style: a row per step with a bar per attempt and the backoff waits between
// them, each failed attempt's error and traceback, live while the run goes on. Attempts and waits are
// replayed from the run's transition rows (as the diagrams are); a step whose transitions are not read
// yet is drawn from its start and end alone.
import { useState } from "preact/hooks";
import type { LogRow, Step } from "./api";
import { pretty } from "./format";
import { isTransition } from "./runlog";
import { duration, formatDuration } from "./time";
import { StatusChip, Time } from "./ui";

export interface ShownStep extends Partial<Step> {
  name: string;
  position: number;
  status: string;
  attempts: number;
  started_at: string | null;
  finished_at: string | null;
  error: string | null;
  next_attempt_at?: string | null;
}

export interface Attempt {
  number: number;
  start: string;
  end: string | null;
  outcome: "running" | "succeeded" | "failed" | "retried" | "aborted" | "reused";
  error: string | null;
  traceback: string | null;
}

export interface Wait {
  start: string;
  end: string | null;
  /** When the next attempt is due: the retry row's `due_at` (rows stored before it was kept have none). */
  due: string | null;
}

export interface StepHistory {
  attempts: Attempt[];
  waits: Wait[];
}

/** Each step's attempts and waits, from the run's rows in seq order. */
export function historiesOf(rows: LogRow[]): Map<string, StepHistory> {
  const out = new Map<string, StepHistory>();
  const of = (step: string) => {
    let history = out.get(step);
    if (!history) out.set(step, (history = { attempts: [], waits: [] }));
    return history;
  };
  for (const row of rows) {
    if (!row.step) continue;
    const fields = row.fields ?? {};
    if (!isTransition(row)) {
      // A traceback is logged just before the transition that ends its attempt.
      if (typeof fields.traceback === "string" && fields.traceback) {
        const open = out.get(row.step)?.attempts.at(-1);
        if (open && open.end === null) open.traceback = fields.traceback;
      }
      continue;
    }
    const history = of(row.step);
    const open = history.attempts.at(-1);
    const error = typeof fields.error === "string" ? fields.error : null;
    const number = typeof fields.attempt === "number" ? fields.attempt : history.attempts.length + 1;
    const close = (outcome: Attempt["outcome"]) => {
      if (open && open.end === null) Object.assign(open, { end: row.at, outcome, error: error ?? open.error });
    };
    switch (fields.trigger) {
      case "start":
      case "resume": {
        const wait = history.waits.at(-1);
        if (wait && wait.end === null) wait.end = row.at;
        history.attempts.push({ number, start: row.at, end: null, outcome: "running", error: null, traceback: null });
        break;
      }
      case "retry":
        close("retried");
        history.waits.push({
          start: row.at,
          end: null,
          due: typeof fields.due_at === "string" ? fields.due_at : null,
        });
        break;
      case "succeed":
        close("succeeded");
        break;
      case "fail":
        close("failed");
        break;
      case "abort": {
        close("aborted");
        const wait = history.waits.at(-1);
        if (wait && wait.end === null) wait.end = row.at;
        break;
      }
      case "reuse":
        history.attempts.push({ number, start: row.at, end: row.at, outcome: "reused", error: null, traceback: null });
        break;
    }
  }
  return out;
}

function span(from: number, to: number, start: number, end: number): { left: string; width: string } {
  const total = Math.max(to - from, 1);
  const left = ((start - from) / total) * 100;
  const width = Math.max(((end - start) / total) * 100, 0.4);
  return { left: `${Math.min(Math.max(left, 0), 99.6)}%`, width: `${Math.min(width, 100 - left)}%` };
}

export function Timeline(props: {
  job: string;
  startedAt: string;
  finishedAt: string | null;
  now: number;
  steps: ShownStep[];
  histories: Map<string, StepHistory>;
  onDiagram: (step: string) => void;
}) {
  const { job, startedAt, steps, histories, now } = props;
  const from = Date.parse(startedAt);
  const to = props.finishedAt ? Date.parse(props.finishedAt) : Math.max(now, from + 1000);
  const [open, setOpen] = useState<Set<string>>(new Set());
  const toggle = (name: string) =>
    setOpen((all) => {
      const next = new Set(all);
      if (next.has(name)) next.delete(name);
      else next.add(name);
      return next;
    });

  return (
    <div class="gantt" data-testid="timeline">
      <div class="gantt-axis" aria-hidden="true">
        <span>
          <Time at={startedAt} job={job} />
        </span>
        <span>{formatDuration(to - from)}</span>
      </div>
      <ol class="timeline">
        {steps.map((step) => {
          const history = histories.get(step.name);
          const attempts = history?.attempts.length ? history.attempts : fallbackAttempts(step);
          const waits = history?.waits ?? [];
          // The live event's delay, else the stored retry row's (after a reload or a late join).
          const wait = waits.at(-1);
          const due = step.next_attempt_at ?? (wait && wait.end === null ? wait.due : null);
          const expanded = open.has(step.name);
          const detailsId = `step-details-${step.position}`;
          return (
            <li key={step.name} class={`timeline-step s-${step.status}`} data-step={step.name} data-status={step.status}>
              <div class="timeline-row">
                <div class="timeline-head">
                  <button
                    type="button"
                    class="link step-toggle"
                    aria-expanded={expanded}
                    aria-controls={detailsId}
                    aria-label={`Details of step ${step.name}`}
                    onClick={() => toggle(step.name)}
                  >
                    {expanded ? "▾" : "▸"}
                  </button>
                  <span class="step-index">{step.position + 1}</span>
                  <strong>{step.name}</strong>
                  {step.type && <span class="muted small">{step.type}</span>}
                  <StatusChip status={step.status} />
                  {step.dry_run && (
                    <span class="tag" data-testid="step-dry-run" title="It counted what it would do and changed nothing">
                      dry run
                    </span>
                  )}
                  <span class="muted small step-duration">
                    {duration(step.started_at, step.finished_at, now)}
                    {step.attempts > 1 && ` · ${step.attempts} attempts`}
                  </span>
                </div>
                <div class="gantt-track" aria-hidden="true">
                  {attempts.map((attempt) => {
                    const end = attempt.end ? Date.parse(attempt.end) : to;
                    return (
                      <span
                        key={`a${attempt.number}-${attempt.start}`}
                        class={`gantt-bar bar-${attempt.outcome}`}
                        style={span(from, to, Date.parse(attempt.start), end)}
                        title={`Attempt ${attempt.number}: ${attempt.outcome}, ${formatDuration(end - Date.parse(attempt.start))}`}
                      />
                    );
                  })}
                  {waits.map((wait) => {
                    const end = wait.end ? Date.parse(wait.end) : to;
                    return (
                      <span
                        key={`w${wait.start}`}
                        class="gantt-bar bar-wait"
                        style={span(from, to, Date.parse(wait.start), end)}
                        title={`Backoff wait: ${formatDuration(end - Date.parse(wait.start))}`}
                      />
                    );
                  })}
                </div>
              </div>
              {step.status === "retrying" && (
                <p class="small muted">
                  Waiting before attempt {step.attempts + 1}
                  {due ? (
                    <>
                      , due <Time at={due} job={job} ms />
                    </>
                  ) : (
                    // A wait recorded without its due time: only when it began is known.
                    wait && (
                      <>
                        {" "}
                        since <Time at={wait.start} job={job} ms />
                      </>
                    )
                  )}
                </p>
              )}
              {step.error && !expanded && <p class="error small">{step.error}</p>}
              {expanded && (
                <div id={detailsId} class="step-details">
                  <table class="attempts">
                    <caption class="sr-only">Attempts of step {step.name}</caption>
                    <thead>
                      <tr>
                        <th scope="col">Attempt</th>
                        <th scope="col">Started</th>
                        <th scope="col">Took</th>
                        <th scope="col">Outcome</th>
                      </tr>
                    </thead>
                    <tbody>
                      {attempts.map((attempt, index) => {
                        const wait = waits[index];
                        return (
                          <>
                            <tr key={`a${attempt.number}`} data-attempt={attempt.number}>
                              <td>#{attempt.number}</td>
                              <td>
                                <Time at={attempt.start} job={job} ms />
                              </td>
                              <td>{duration(attempt.start, attempt.end, now)}</td>
                              <td>
                                <span class={`outcome o-${attempt.outcome}`}>{attempt.outcome}</span>
                                {attempt.error && <div class="error small">{attempt.error}</div>}
                                {attempt.traceback && (
                                  <details>
                                    <summary>Traceback</summary>
                                    <pre class="traceback" tabIndex={0}>{attempt.traceback}</pre>
                                  </details>
                                )}
                              </td>
                            </tr>
                            {wait && (
                              <tr key={`w${index}`} class="wait-row">
                                <td />
                                <td>
                                  <Time at={wait.start} job={job} ms />
                                </td>
                                <td>{duration(wait.start, wait.end, now)}</td>
                                <td class="muted">backoff wait{wait.end ? "" : " (now)"}</td>
                              </tr>
                            )}
                          </>
                        );
                      })}
                    </tbody>
                  </table>
                  <div class="snapshots">
                    <div>
                      <h4>Input</h4>
                      <pre tabIndex={0}>{pretty(step.input)}</pre>
                    </div>
                    <div>
                      <h4>Output</h4>
                      <pre tabIndex={0}>{pretty(step.output)}</pre>
                    </div>
                  </div>
                  <button type="button" onClick={() => props.onDiagram(step.name)}>
                    State diagram of {step.name}
                  </button>
                </div>
              )}
            </li>
          );
        })}
      </ol>
    </div>
  );
}

/** A step's one bar when its transitions are not read (yet): from its start to its end. */
function fallbackAttempts(step: ShownStep): Attempt[] {
  if (!step.started_at) return [];
  const outcome: Attempt["outcome"] =
    step.status === "running" || step.status === "retrying"
      ? "running"
      : step.status === "succeeded" || step.status === "failed" || step.status === "aborted"
        ? step.status
        : "running";
  return [
    { number: step.attempts || 1, start: step.started_at, end: step.finished_at, outcome, error: null, traceback: null },
  ];
}
