// The run drawer (`?run=<id>`): the run's status and actions, then three tabs: Overview (what ran, and
// a Gantt timeline of its steps and attempts), Log (the whole log, live) and Diagrams (its state
// machines with the path it took). Everything follows the run live, says when the connection is lost,
// and reads the server again when it comes back.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, ApiError, can, type Diagrams, type LogRow, type RunDetail, type Session } from "./api";
import { StateDiagram } from "./diagram";
import { blockingRunOf, shortId } from "./format";
import { LogViewer, useLogVersion } from "./logview";
import { applyEvent, live, liveRunOf, useOnline, useReconnected, type LiveRun } from "./live";
import { RunLog, transitionOfEvent } from "./runlog";
import { duration } from "./time";
import { historiesOf, Timeline, type ShownStep } from "./timeline";
import { closeRun, Modal, openRun, RunLink, setQuery, StatusChip, Time, toast, useLocation, useNow, useTitle } from "./ui";

const FINAL = new Set(["succeeded", "failed", "aborted", "skipped"]);
const TABS = [
  { id: "overview", label: "Overview" },
  { id: "log", label: "Log" },
  { id: "diagrams", label: "Diagrams" },
] as const;
type Tab = (typeof TABS)[number]["id"];

function announcementOf(event: string, data: any): string | null {
  switch (event) {
    case "StepStarted":
      return data.attempt > 1 ? `Step ${data.step}: attempt ${data.attempt} started` : `Step ${data.step} started`;
    case "StepRetrying":
      return `Step ${data.step} failed attempt ${data.attempt}, retrying in ${data.delay_seconds} s: ${data.error}`;
    case "StepFinished":
      return `Step ${data.step} ${data.status}${data.error ? `: ${data.error}` : ""}`;
    case "RunFinished":
      return `Run ${data.status}${data.error ? `: ${data.error}` : ""}`;
    default:
      return null;
  }
}

export function RunDrawer({ runId, session }: { runId: string; session: Session }) {
  const [detail, setDetail] = useState<RunDetail | null>(null);
  const [missing, setMissing] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [state, setState] = useState<LiveRun | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [announcement, setAnnouncement] = useState("");
  const log = useMemo(() => new RunLog(runId), [runId]);
  const { query } = useLocation();
  const tab: Tab = (TABS.find((t) => t.id === query.get("tab"))?.id ?? "overview") as Tab;
  const online = useOnline();
  const refetch = useRef<() => void>(() => {});
  const stepStatus = useRef(new Map<string, string>());

  const readLog = () =>
    log.read().catch((exc: Error) => {
      if (!(exc instanceof ApiError && (exc.status === 404 || exc.status === 0))) setError(exc.message);
    });

  useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = () =>
      api.run(runId).then(
        (out) => {
          if (!alive) return;
          setDetail(out);
          setError(null);
          for (const step of out.steps) if (!stepStatus.current.has(step.name)) stepStatus.current.set(step.name, step.status);
        },
        (exc: Error) => {
          if (!alive) return;
          if (exc instanceof ApiError && exc.status === 404) setMissing(`No run with id ${runId}.`);
          // Unreachable: the offline banner says so, and the reconnection reads it again.
          else if (!(exc instanceof ApiError && exc.status === 0)) setError(exc.message);
        },
      );
    refetch.current = () => {
      clearTimeout(timer);
      timer = setTimeout(load, 200);
    };
    load();
    readLog();
    const unsubscribe = live.subscribe(`run:${runId}`, (event, data) => {
      if (event === "snapshot") {
        if (data?.room !== `run:${runId}`) return;
        const snapshot = liveRunOf(data);
        setState(snapshot);
        for (const step of snapshot.steps) stepStatus.current.set(step.name, step.status);
        for (const row of (data.log_tail as LogRow[]) ?? []) log.addLive(row);
        log.lastSeq = Math.max(log.lastSeq, snapshot.last_seq);
        return;
      }
      if (data?.run_id !== runId) return;
      if (event === "LogLine") {
        log.addLive(data as LogRow);
        return;
      }
      const row = transitionOfEvent(event, data, data.step ? stepStatus.current.get(data.step) : undefined);
      if (row) log.addLive(row);
      if (data.step && row?.fields) stepStatus.current.set(data.step, String(row.fields.dest));
      setState((run) => (run ? applyEvent(run, event, data) : run));
      const said = announcementOf(event, data);
      if (said) setAnnouncement(said);
      refetch.current();
    });
    return () => {
      alive = false;
      clearTimeout(timer);
      unsubscribe();
      log.stop();
    };
  }, [runId]);
  useReconnected(() => {
    refetch.current();
    readLog();
  });

  // A finished run's stored row is final; otherwise the live state is the newer one.
  const status = detail && FINAL.has(detail.status) ? detail.status : (state?.status ?? detail?.status ?? null);
  const running = status === "running";
  const now = useNow(1000, running && online);
  const operator = can(session, "operator");
  const steps = mergeSteps(detail, state);
  const job = detail?.job ?? state?.job ?? "";
  useTitle(job ? `${job} run ${shortId(runId)}` : `Run ${shortId(runId)}`);
  // The timeline replays the log's transitions: only while it is shown.
  const version = useLogVersion(log, tab === "overview");
  const histories = useMemo(() => (tab === "overview" ? historiesOf(log.rows) : new Map()), [version, tab]);

  async function abort() {
    setConfirming(false);
    try {
      await api.abort(runId);
      toast("Abort requested");
    } catch (exc) {
      toast((exc as Error).message, "error");
    }
  }

  async function retry() {
    try {
      const out = await api.retry(runId);
      toast(`Retry started (${shortId(out.run_id)})`);
      openRun(out.run_id);
    } catch (exc) {
      toast((exc as Error).message, "error");
    }
  }

  const showTab = (next: Tab, step?: string) =>
    setQuery((q) => {
      q.set("tab", next);
      if (step) q.set("step", step);
      else q.delete("step");
    }, true);

  const title = job ? `${job} · run ${shortId(runId)}` : `Run ${shortId(runId)}`;
  if (missing) {
    return (
      <Modal title={title} onClose={closeRun} class="drawer" attrs={{ "data-testid": "run-drawer", "data-run-id": runId }}>
        <div class="drawer-body">
          <p class="error">{missing}</p>
          <p class="muted">It may have been deleted by the history retention, or the link is wrong.</p>
        </div>
      </Modal>
    );
  }
  const started = detail?.started_at ?? state?.started_at ?? null;
  const finished = detail?.finished_at ?? state?.finished_at ?? null;
  const runError = detail?.error ?? state?.error ?? null;
  const blocking = status === "skipped" ? blockingRunOf(runError) : null;
  return (
    <Modal title={title} onClose={closeRun} class="drawer" attrs={{ "data-testid": "run-drawer", "data-run-id": runId }}>
      <div class="drawer-body">
        <div class="sr-only" role="status" aria-live="polite">
          {announcement}
        </div>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <div class="drawer-status">
          {status ? (
            <StatusChip status={status} note={!online && !FINAL.has(status) ? "last known" : undefined} />
          ) : (
            <span class="muted">Loading…</span>
          )}
          {running && online && state && (
            <span class="tag tag-live" data-testid="following" title="This run's changes arrive as they happen">
              following live
            </span>
          )}
          {detail?.dry_run && <span class="tag">dry run</span>}
          {started && <span class="muted small">{duration(started, finished, now)}</span>}
          <span class="spacer" />
          {operator && running && (
            <button
              type="button"
              class="danger"
              disabled={!online}
              aria-label={`Abort ${job} run ${shortId(runId)}`}
              onClick={() => setConfirming(true)}
            >
              Abort
            </button>
          )}
          {operator && (status === "failed" || status === "aborted") && (
            <button type="button" disabled={!online} onClick={retry}>
              Retry from failed step
            </button>
          )}
        </div>
        <div class="tabs" role="tablist" aria-label="Run views">
          {TABS.map((item) => (
            <button
              key={item.id}
              type="button"
              role="tab"
              id={`tab-${item.id}`}
              aria-selected={tab === item.id}
              aria-controls={`panel-${item.id}`}
              tabIndex={tab === item.id ? 0 : -1}
              onClick={() => showTab(item.id)}
              onKeyDown={(event) => {
                const index = TABS.findIndex((t) => t.id === tab);
                const by = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
                if (!by) return;
                const next = TABS[(index + by + TABS.length) % TABS.length].id;
                showTab(next);
                document.getElementById(`tab-${next}`)?.focus();
              }}
            >
              {item.label}
            </button>
          ))}
        </div>
        <div class={`tab-panel panel-${tab}`} role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} tabIndex={0}>
          {tab === "overview" && (
            <>
              {detail && (
                <dl class="meta">
                  <dt>Run id</dt>
                  <dd>
                    <code>{detail.id}</code>
                  </dd>
                  <dt>Triggered by</dt>
                  <dd>{detail.triggered_by}</dd>
                  <dt>Started</dt>
                  <dd>
                    <Time at={detail.started_at} job={job} />
                  </dd>
                  <dt>Finished</dt>
                  <dd>
                    <Time at={finished} job={job} />
                  </dd>
                  {detail.scheduled_for && (
                    <>
                      <dt>Scheduled for</dt>
                      <dd>
                        <Time at={detail.scheduled_for} job={job} />
                      </dd>
                    </>
                  )}
                  {detail.resumed_from && (
                    <>
                      <dt>Retry of</dt>
                      <dd>
                        <RunLink id={detail.resumed_from}>run {shortId(detail.resumed_from)}</RunLink>
                      </dd>
                    </>
                  )}
                  <dt>Params</dt>
                  <dd>
                    <code>{JSON.stringify(detail.params)}</code>
                  </dd>
                </dl>
              )}
              {status === "skipped" ? (
                <p class="notice" data-testid="skip-reason">
                  Skipped: {job || "the job"} was already running
                  {blocking ? (
                    <>
                      {" "}
                      as <RunLink id={blocking}>run {shortId(blocking)}</RunLink>.
                    </>
                  ) : (
                    `. ${runError ?? ""}`
                  )}{" "}
                  Only one run of a job is in flight at a time; this fire was recorded and not run.
                </p>
              ) : (
                runError && <p class="error">{runError}</p>
              )}
              {steps.length > 0 && started && (
                <>
                  <h3>Steps</h3>
                  <Timeline
                    job={job}
                    startedAt={started}
                    finishedAt={finished}
                    now={now}
                    steps={steps}
                    histories={histories}
                    onDiagram={(step) => showTab("diagrams", step)}
                  />
                </>
              )}
            </>
          )}
          {tab === "log" && (
            <LogViewer
              log={log}
              job={job}
              steps={steps.map((step) => step.name)}
              running={running}
              fileName={`${job || "run"}-${shortId(runId)}.log`}
              onAnnounce={setAnnouncement}
            />
          )}
          {tab === "diagrams" && <DiagramView runId={runId} status={status ?? ""} focus={query.get("step")} />}
        </div>
      </div>
      {confirming && (
        <Modal title="Abort this run?" onClose={() => setConfirming(false)}>
          <p>
            Every running step of this {job} run is cancelled, and the run ends aborted.
          </p>
          <div class="buttons">
            <button type="button" autofocus onClick={() => setConfirming(false)}>
              Keep running
            </button>
            <button type="button" class="danger" disabled={!online} onClick={abort}>
              Abort run
            </button>
          </div>
        </Modal>
      )}
    </Modal>
  );
}

/** The stored steps (with their snapshots), brought up to date by the live state where it is newer. */
function mergeSteps(detail: RunDetail | null, state: LiveRun | null): ShownStep[] {
  const stored = detail?.steps ?? [];
  const storedFinal = detail !== null && FINAL.has(detail.status);
  const byName = new Map<string, ShownStep>(stored.map((step) => [step.name, { ...step }]));
  for (const step of state?.steps ?? []) {
    const known = byName.get(step.name);
    if (known && storedFinal) continue; // the run has ended: its stored steps are the truth
    byName.set(
      step.name,
      known
        ? {
            ...known,
            ...step,
            // Keep what only the store has, and the earliest start (a later attempt's is not the step's).
            started_at: known.started_at ?? step.started_at,
            error: step.error ?? known.error ?? null,
          }
        : { ...step },
    );
  }
  return [...byName.values()].sort((a, b) => a.position - b.position);
}

let diagramCount = 0;

function DiagramView({ runId, status, focus }: { runId: string; status: string; focus: string | null }) {
  const [diagrams, setDiagrams] = useState<Diagrams | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [id] = useState(() => `d${++diagramCount}`);
  const focused = useRef<HTMLElement>(null);

  useEffect(() => {
    let alive = true;
    api.diagram(runId).then(
      (out) => alive && (setDiagrams(out), setError(null)),
      (exc: Error) => alive && setError(exc.message),
    );
    return () => {
      alive = false;
    };
  }, [runId, status]);
  useReconnected(() => api.diagram(runId).then(setDiagrams, () => {}));

  useEffect(() => {
    focused.current?.scrollIntoView({ block: "start" });
  }, [diagrams, focus]);

  if (error) return <p class="error">{error}</p>;
  if (!diagrams) return <p class="muted">Drawing…</p>;
  return (
    <div class="diagrams" data-testid="diagrams">
      <p class="muted small">
        Thick arrows: the moves this run made, numbered in order. Shaded: the states it went through. Filled: where
        it is now, in its status colour.
      </p>
      <figure class="diagram" data-machine="run">
        <figcaption>Run ({status})</figcaption>
        <StateDiagram text={diagrams.run} status={status} title="The run" id={`${id}-run`} />
      </figure>
      {diagrams.steps.map((step, index) => (
        <figure
          key={step.step}
          class={`diagram${step.step === focus ? " diagram-focus" : ""}`}
          data-machine="step"
          data-step={step.step}
          ref={step.step === focus ? focused : undefined}
        >
          <figcaption>
            Step {step.step} ({step.status})
          </figcaption>
          <StateDiagram text={step.mermaid} status={step.status} title={`Step ${step.step}`} id={`${id}-s${index}`} />
        </figure>
      ))}
    </div>
  );
}
