// The Jobs page: every declared job, the runs in flight (live), and the ▶ Run dialog.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, can, type Job, type Session } from "./api";
import { ago, duration, scheduleInWords, shortId, when } from "./format";
import { applyEvent, live, liveRunOf, runOfStarted, type LiveRun } from "./live";
import { Modal, openRun, StatusChip, toast, useNow } from "./ui";

export function JobsPage({ session }: { session: Session }) {
  const [jobs, setJobs] = useState<Job[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [running, setRunning] = useState<Job | null>(null);
  const reload = useRef<() => void>(() => {});

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let alive = true;
    const load = () =>
      api
        .jobs()
        .then((out) => alive && (setJobs(out), setError(null)))
        .catch((exc: Error) => alive && setError(exc.message));
    // Runs starting and ending change the table's last-run column: reload, at most every 300 ms.
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

  const now = useNow(15000);
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
      <InFlight onRunChange={() => reload.current()} />
      <section class="panel" aria-labelledby="jobs-title">
        <div class="panel-head">
          <h1 id="jobs-title">Jobs</h1>
        </div>
        {error && <p class="error">{error}</p>}
        {!jobs && !error && <p class="muted">Loading…</p>}
        {jobs && jobs.length === 0 && <p class="muted">No jobs are declared in this install.</p>}
        {jobs && jobs.length > 0 && (
          <div class="table-wrap">
            <table class="table cards" data-testid="jobs-table">
              <thead>
                <tr>
                  <th scope="col">Job</th>
                  <th scope="col">App</th>
                  <th scope="col">Schedule</th>
                  <th scope="col">Timezone</th>
                  <th scope="col">Next fire</th>
                  <th scope="col">State</th>
                  <th scope="col">Last run</th>
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
                        <strong>{job.name}</strong>
                        {job.description && <div class="muted small">{job.description}</div>}
                      </div>
                    </td>
                    <td data-label="App">{job.app}</td>
                    <td data-label="Schedule">
                      <div>
                        {job.schedule ? <code>{job.schedule}</code> : null}
                        <div class="small">{scheduleInWords(job.schedule)}</div>
                      </div>
                    </td>
                    <td data-label="Timezone">{job.timezone}</td>
                    <td data-label="Next fire">
                      {job.next_fire ? (
                        <span title={when(job.next_fire)}>
                          {when(job.next_fire)}
                          <div class="muted small">{ago(job.next_fire, now)}</div>
                        </span>
                      ) : (
                        <span class="muted">—</span>
                      )}
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
                      {job.last_run ? (
                        <button
                          type="button"
                          class="link"
                          onClick={() => openRun(job.last_run!.id)}
                          aria-label={`Open last run of ${job.name}`}
                        >
                          <StatusChip status={job.last_run.status} />{" "}
                          <span class="small">{ago(job.last_run.started_at, now)}</span>
                        </button>
                      ) : (
                        <span class="muted">never</span>
                      )}
                    </td>
                    <td class="actions">
                      {operator && (
                        <button type="button" class="primary" onClick={() => setRunning(job)}>
                          ▶ Run
                        </button>
                      )}
                      {admin && (
                        <button type="button" onClick={() => toggle(job)}>
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

/** Runs in flight: from the server's snapshot on join, then kept current by the `jobs` room's events. */
export function InFlight({ onRunChange }: { onRunChange: () => void }) {
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
                <button type="button" class="link strong" onClick={() => openRun(run.id)}>
                  {run.job}
                </button>
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
    if (invalid || busy) return;
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
        {problem && <p class="error">{problem}</p>}
        <div class="buttons">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={invalid || busy}>
            {busy ? "Starting…" : dryRun ? "Start dry run" : "Start run"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
