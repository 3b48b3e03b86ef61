// The Jobs page: the runs in flight (live), every declared job with its next fire (in its own zone and
// the viewer's), its last run and recent history, and the ▶ Run dialog.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, can, type Job, type Run, type Session } from "./api";
import { scheduleInWords, shortId } from "./format";
import { trendOf, useJobHistories, type Histories } from "./history";
import { applyEvent, live, liveRunOf, runOfStarted, useOnline, useReconnected, type LiveRun } from "./live";
import { duration, formatAt, formatDuration, LOCAL_ZONE, useZoneMode } from "./time";
import { Ago, Modal, RunLink, StatusChip, toast, useNow, useTitle } from "./ui";

export function JobsPage({ session }: { session: Session }) {
  const [jobs, setJobs] = useState<Job[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [running, setRunning] = useState<Job | null>(null);
  const reload = useRef<() => void>(() => {});
  const shown = useRef<Job[] | null>(null);
  shown.current = jobs;
  const online = useOnline();
  useTitle("Jobs");

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let alive = true;
    const load = () =>
      api
        .jobs()
        .then((out) => alive && (setJobs(out), setError(null)))
        .catch((exc: Error) => {
          // Unreachable while the jobs are shown: keep them (the offline banner says they may be stale).
          if (alive && !(exc instanceof ApiError && exc.status === 0 && shown.current)) setError(exc.message);
        });
    // Runs starting and ending change the last-run column: reload, at most every 300 ms.
    reload.current = () => {
      clearTimeout(timer);
      timer = setTimeout(load, 300);
    };
    load();
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, []);
  useReconnected(() => reload.current());

  const inFlight = useInFlight(() => reload.current());
  const histories = useJobHistories(jobs?.map((job) => job.name) ?? []);
  const operator = can(session, "operator");
  const admin = can(session, "admin");

  async function toggle(job: Job) {
    try {
      const updated = job.paused ? await api.resume(job.name) : await api.pause(job.name);
      setJobs((all) => all && all.map((other) => (other.name === job.name ? updated : other)));
      toast(`${job.name} ${updated.paused ? "paused" : "resumed"}`);
    } catch (exc) {
      toast((exc as Error).message, "error");
    }
  }

  return (
    <>
      <div class="page-head">
        <h1>Jobs</h1>
        {jobs && (
          <span class="muted small">
            {jobs.length} declared · {inFlight.size} running
          </span>
        )}
      </div>
      <InFlight runs={inFlight} />
      <section class="panel" aria-labelledby="jobs-title">
        <div class="panel-head">
          <h2 id="jobs-title">All jobs</h2>
        </div>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        {!jobs && !error && <p class="muted">Loading…</p>}
        {jobs && jobs.length === 0 && <p class="muted">No jobs are declared in this install.</p>}
        {jobs && jobs.length > 0 && (
          <div class="table-wrap">
            <table class="table cards" data-testid="jobs-table">
              <thead>
                <tr>
                  <th scope="col">Job</th>
                  <th scope="col">Schedule</th>
                  <th scope="col">Next fire</th>
                  <th scope="col">State</th>
                  <th scope="col">Last run</th>
                  <th scope="col">Recent runs</th>
                  <th scope="col">
                    <span class="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {jobs.map((job) => (
                  <tr key={job.name} data-job={job.name}>
                    <td data-label="Job">
                      <div>
                        <strong>{job.name}</strong> <span class="muted small">{job.app}</span>
                        {job.description && <div class="muted small">{job.description}</div>}
                      </div>
                    </td>
                    <td data-label="Schedule">
                      <div>
                        {job.schedule ? <code>{job.schedule}</code> : null}
                        <div class="small">{scheduleInWords(job.schedule)}</div>
                        {job.schedule && <div class="muted small">{job.timezone}</div>}
                      </div>
                    </td>
                    <td data-label="Next fire">
                      <NextFire job={job} />
                    </td>
                    <td data-label="State">
                      <div>
                        {!job.enabled ? (
                          <span class="tag tag-off">disabled</span>
                        ) : job.paused ? (
                          <span class="tag tag-paused" title={job.state?.reason ?? undefined}>
                            paused
                          </span>
                        ) : (
                          <span class="tag tag-on">enabled</span>
                        )}
                        {job.paused && job.state && <div class="muted small">by {job.state.changed_by}</div>}
                      </div>
                    </td>
                    <td data-label="Last run">
                      <LastRun job={job} inFlight={inFlight} history={histories.get(job.name)} />
                    </td>
                    <td data-label="Recent runs">
                      <History job={job.name} histories={histories} />
                    </td>
                    <td class="actions">
                      {operator && (
                        <button
                          type="button"
                          class="primary"
                          aria-label={`Run ${job.name}`}
                          disabled={!online}
                          title={online ? undefined : "Offline: reconnecting to the server"}
                          onClick={() => setRunning(job)}
                        >
                          ▶ Run
                        </button>
                      )}
                      {admin && (
                        <button
                          type="button"
                          aria-label={`${job.paused ? "Resume" : "Pause"} ${job.name}`}
                          disabled={!online}
                          onClick={() => toggle(job)}
                        >
                          {job.paused ? "Resume" : "Pause"}
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      {running && <RunDialog job={running} onClose={() => setRunning(null)} />}
    </>
  );
}

/** When cron fires the job next: in the job's own zone, with the viewer's time (or UTC) beside it. */
function NextFire({ job }: { job: Job }) {
  const mode = useZoneMode();
  if (!job.next_fire) return <span class="muted">—</span>;
  const other = mode === "utc" ? "UTC" : LOCAL_ZONE;
  return (
    <div data-testid="next-fire">
      <time dateTime={job.next_fire}>{formatAt(job.next_fire, job.timezone)}</time>
      {other !== job.timezone && (
        <div class="muted small">
          {other === "UTC" ? "UTC" : "your time"}: {formatAt(job.next_fire, other)}
        </div>
      )}
      <div class="muted small">
        <Ago at={job.next_fire} past={false} />
      </div>
    </div>
  );
}

/** The job's run in flight if it has one, else its latest run that ran: a fire skipped because a run
 * was in flight is not what an operator means by the last run (it is noted below it). */
function LastRun({ job, inFlight, history }: { job: Job; inFlight: Map<string, LiveRun>; history?: Run[] }) {
  const live = [...inFlight.values()].find((run) => run.job === job.name);
  const runningId = live?.id ?? job.running;
  if (runningId) {
    const started = live?.started_at ?? (job.last_run?.id === runningId ? job.last_run.started_at : null);
    return (
      <div>
        <RunLink id={runningId} label={`running: the run of ${job.name} in flight`}>
          <StatusChip status="running" />
        </RunLink>{" "}
        {started && (
          <span class="small">
            started <Ago at={started} />
          </span>
        )}
        {job.last_run && job.last_run.id !== runningId && job.last_run.status === "skipped" && (
          <div class="muted small">a later fire was skipped</div>
        )}
      </div>
    );
  }
  const ran = job.last_run?.status === "skipped" ? history?.find((run) => run.status !== "skipped") : undefined;
  const last = ran ?? job.last_run;
  if (!last) return <span class="muted">never</span>;
  return (
    <div>
      <RunLink id={last.id} label={`${last.status}: last run of ${job.name}`}>
        <StatusChip status={last.status} />
      </RunLink>{" "}
      <span class="small">
        <Ago at={last.finished_at ?? last.started_at} />
      </span>
      {ran && <div class="muted small">a later fire was skipped</div>}
    </div>
  );
}

const BAR_COLOURS: Record<string, string> = {
  succeeded: "#17b26a",
  failed: "#d92d20",
  aborted: "#dc6803",
};

/** The job's success rate and a bar per recent run (height: its duration; colour: how it ended). */
function History({ job, histories }: { job: string; histories: Histories }) {
  const runs = histories.get(job);
  if (!runs) return <span class="muted small">…</span>;
  const trend = trendOf(runs);
  if (trend.finished === 0) return <span class="muted small">no finished runs</span>;
  const rate = Math.round((trend.succeeded / trend.finished) * 100);
  const longest = Math.max(...trend.bars.map((bar) => bar.ms), 1);
  const latest = trend.bars[trend.bars.length - 1];
  const shortest = Math.min(...trend.bars.map((bar) => bar.ms));
  const width = 4;
  const gap = 1;
  const height = 24;
  const summary =
    `${rate}% of the last ${trend.finished} finished runs succeeded; durations from ${formatDuration(shortest)} ` +
    `to ${formatDuration(longest)}, the latest ${formatDuration(latest.ms)}` +
    (trend.skipped ? `; ${trend.skipped} skipped` : "");
  return (
    <div class="history" data-testid="history" title={summary}>
      <span class={`rate ${rate === 100 ? "rate-ok" : rate >= 80 ? "rate-warn" : "rate-bad"}`}>{rate}%</span>
      <svg
        class="spark"
        role="img"
        aria-label={summary}
        width={trend.bars.length * (width + gap)}
        height={height}
        viewBox={`0 0 ${trend.bars.length * (width + gap)} ${height}`}
      >
        {trend.bars.map((bar, index) => {
          const h = Math.max(2, Math.round((bar.ms / longest) * height));
          return (
            <rect
              key={bar.id}
              x={index * (width + gap)}
              y={height - h}
              width={width}
              height={h}
              fill={BAR_COLOURS[bar.status] ?? "#98a2b3"}
            />
          );
        })}
      </svg>
      <span class="muted small">{formatDuration(latest.ms)}</span>
    </div>
  );
}

/** Runs in flight: the server's snapshot on join (and on every reconnect), then the `jobs` room's events. */
function useInFlight(onRunChange: () => void): Map<string, LiveRun> {
  const [runs, setRuns] = useState<Map<string, LiveRun>>(new Map());
  const changed = useRef(onRunChange);
  changed.current = onRunChange;

  useEffect(
    () =>
      live.subscribe("jobs", (event, data) => {
        if (event === "snapshot") {
          if (data?.room !== "jobs") return;
          setRuns(new Map((data.in_flight as unknown[]).map((state) => [liveRunOf(state).id, liveRunOf(state)])));
          return;
        }
        if (!data?.run_id) return;
        if (event === "RunStarted") {
          setRuns((all) => (all.has(data.run_id) ? all : new Map(all).set(data.run_id, runOfStarted(data))));
          changed.current();
        } else if (event === "RunFinished" || event === "RunSkipped") {
          setRuns((all) => {
            if (!all.has(data.run_id)) return all;
            const next = new Map(all);
            next.delete(data.run_id);
            return next;
          });
          changed.current();
        } else if (event.startsWith("Step")) {
          setRuns((all) => {
            const run = all.get(data.run_id);
            return run ? new Map(all).set(run.id, applyEvent(run, event, data)) : all;
          });
        }
      }),
    [],
  );
  return runs;
}

function InFlight({ runs }: { runs: Map<string, LiveRun> }) {
  const list = [...runs.values()].sort((a, b) => b.started_at.localeCompare(a.started_at));
  const now = useNow(1000, list.length > 0);
  return (
    <section class="panel" aria-labelledby="inflight-title" data-testid="in-flight">
      <div class="panel-head">
        <h2 id="inflight-title">In flight</h2>
        <span class="muted small">{list.length === 0 ? "nothing running" : `${list.length} running`}</span>
      </div>
      {list.length > 0 && (
        <ul class="inflight">
          {list.map((run) => (
            <li key={run.id} class="inflight-row" data-run-id={run.id} data-job={run.job}>
              <div class="inflight-main">
                <RunLink id={run.id} label={`Open running run of ${run.job}`}>
                  <strong>{run.job}</strong>
                </RunLink>
                <span class="muted small">
                  {shortId(run.id)} · {run.triggered_by} · {duration(run.started_at, null, now)}
                  {run.dry_run && " · dry run"}
                </span>
              </div>
              <ol class="steps-inline" aria-label={`Steps of ${run.job}`}>
                {run.steps.map((step) => (
                  <li key={step.name} data-step={step.name} data-status={step.status} class={`step-pill s-${step.status}`}>
                    {step.name}
                    <span class="sr-only">: </span>
                    <span class="step-state">{step.status}</span>
                    {step.attempts > 1 && <span class="small"> ×{step.attempts}</span>}
                  </li>
                ))}
              </ol>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

type Kind = "boolean" | "integer" | "number" | "string" | "json";

function kindOf(value: unknown): Kind {
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  if (typeof value === "string") return "string";
  return "json";
}

function textOf(value: unknown, kind: Kind): string {
  if (kind === "json") return JSON.stringify(value);
  return String(value);
}

function parse(text: string, kind: Kind): { value?: unknown; error?: string } {
  if (kind === "string") return { value: text };
  if (kind === "integer" || kind === "number") {
    if (text.trim() === "") return { error: "Enter a number." };
    const value = Number(text);
    if (!Number.isFinite(value)) return { error: "Enter a number." };
    if (kind === "integer" && !Number.isInteger(value)) return { error: "Enter a whole number." };
    return { value };
  }
  try {
    return { value: JSON.parse(text) };
  } catch {
    return { error: "Enter valid JSON." };
  }
}

/** ▶ Run: the job's declared params pre-filled with their defaults, checked as they are typed. */
export function RunDialog({ job, onClose }: { job: Job; onClose: () => void }) {
  const entries = Object.entries(job.params);
  const [texts, setTexts] = useState<Record<string, string>>(
    Object.fromEntries(entries.map(([name, value]) => [name, textOf(value, kindOf(value))])),
  );
  const [flags, setFlags] = useState<Record<string, boolean>>(
    Object.fromEntries(entries.filter(([, v]) => typeof v === "boolean").map(([name, v]) => [name, v as boolean])),
  );
  const [dryRun, setDryRun] = useState(false);
  const [serverErrors, setServerErrors] = useState<Record<string, string>>({});
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const online = useOnline();

  const errors: Record<string, string> = {};
  const overrides: Record<string, unknown> = {};
  for (const [name, declared] of entries) {
    const kind = kindOf(declared);
    const parsed = kind === "boolean" ? { value: flags[name] } : parse(texts[name] ?? "", kind);
    if (parsed.error) errors[name] = parsed.error;
    else if (JSON.stringify(parsed.value) !== JSON.stringify(declared)) overrides[name] = parsed.value;
  }
  const invalid = Object.keys(errors).length > 0;

  async function submit(event: Event) {
    event.preventDefault();
    if (invalid || busy || !online) return;
    setBusy(true);
    setProblem(null);
    try {
      const out = await api.runJob(job.name, overrides, dryRun);
      if (out.status === "skipped") toast(`${job.name} is already running: this run was skipped`, "error");
      else toast(`${job.name} started (${shortId(out.run_id)})`);
      onClose();
    } catch (exc) {
      if (exc instanceof ApiError) setServerErrors(exc.fields);
      setProblem((exc as Error).message);
      setBusy(false);
    }
  }

  return (
    <Modal title={`Run ${job.name}`} onClose={onClose}>
      <form class="form" onSubmit={submit} noValidate>
        {entries.length === 0 && <p class="muted">This job declares no params.</p>}
        {entries.map(([name, declared]) => {
          const kind = kindOf(declared);
          const message = errors[name] ?? serverErrors[name];
          const id = `param-${name}`;
          if (kind === "boolean") {
            return (
              <label class="check" key={name}>
                <input
                  type="checkbox"
                  name={name}
                  checked={flags[name]}
                  onChange={(e) => setFlags({ ...flags, [name]: (e.target as HTMLInputElement).checked })}
                />
                {name}
              </label>
            );
          }
          return (
            <div class="field" key={name}>
              <label for={id}>
                {name} <span class="muted small">({kind}, default {textOf(declared, kind)})</span>
              </label>
              {kind === "json" ? (
                <textarea
                  id={id}
                  name={name}
                  rows={3}
                  value={texts[name]}
                  aria-invalid={message ? "true" : undefined}
                  aria-describedby={message ? `${id}-error` : undefined}
                  onInput={(e) => setTexts({ ...texts, [name]: (e.target as HTMLTextAreaElement).value })}
                />
              ) : (
                <input
                  id={id}
                  name={name}
                  // numbers are typed as text and checked here: a number input hides what was typed
                  type="text"
                  inputMode={kind === "string" ? "text" : kind === "integer" ? "numeric" : "decimal"}
                  value={texts[name]}
                  aria-invalid={message ? "true" : undefined}
                  aria-describedby={message ? `${id}-error` : undefined}
                  onInput={(e) => {
                    setTexts({ ...texts, [name]: (e.target as HTMLInputElement).value });
                    setServerErrors({});
                  }}
                />
              )}
              {message && (
                <p class="field-error" id={`${id}-error`}>
                  {message}
                </p>
              )}
            </div>
          );
        })}
        <label class="check">
          <input type="checkbox" checked={dryRun} onChange={(e) => setDryRun((e.target as HTMLInputElement).checked)} />
          Dry run <span class="muted small">(steps only count what they would do)</span>
        </label>
        {problem && (
          <p class="error" role="alert">
            {problem}
          </p>
        )}
        <div class="buttons">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={invalid || busy || !online}>
            {busy ? "Starting…" : dryRun ? "Start dry run" : "Start run"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
