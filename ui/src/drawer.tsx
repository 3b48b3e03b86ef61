// The run drawer: one run's steps, snapshots, live log tail, actions and state diagrams.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, can, type Diagrams, type RunDetail, type Session, type Step } from "./api";
import { duration, pretty, shortId, when } from "./format";
import { applyEvent, live, liveRunOf, type LiveLine, type LiveRun } from "./live";
import { closeRun, Modal, openRun, StatusChip, toast, useNow } from "./ui";

const MAX_LINES = 500;

export function RunDrawer({ runId, session }: { runId: string; session: Session }) {
  const [detail, setDetail] = useState<RunDetail | null>(null);
  const [state, setState] = useState<LiveRun | null>(null);
  const [lines, setLines] = useState<LiveLine[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [showDiagrams, setShowDiagrams] = useState(false);
  const refetch = useRef<() => void>(() => {});

  useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    setDetail(null);
    setState(null);
    setLines([]);
    setError(null);
    const load = () =>
      api.run(runId).then(
        (out) => alive && setDetail(out),
        (exc: Error) => alive && setError(exc.message),
      );
    refetch.current = () => {
      clearTimeout(timer);
      timer = setTimeout(load, 200);
    };
    load();
    const unsubscribe = live.subscribe(`run:${runId}`, (event, data) => {
      if (event === "snapshot") {
        if (data?.room !== `run:${runId}`) return;
        setState(liveRunOf(data));
        setLines((data.log_tail as LiveLine[]) ?? []);
        return;
      }
      if (data?.run_id !== runId) return;
      if (event === "LogLine") {
        if (data.fields?.event === "transition") return;
        setLines((all) =>
          all.length && all[all.length - 1].seq >= data.seq ? all : [...all, data as LiveLine].slice(-MAX_LINES),
        );
        return;
      }
      setState((run) => (run ? applyEvent(run, event, data) : run));
      refetch.current();
    });
    return () => {
      alive = false;
      clearTimeout(timer);
      unsubscribe();
    };
  }, [runId]);

  const status = state?.status ?? detail?.status ?? "running";
  const running = status === "running";
  const now = useNow(1000, running);
  const operator = can(session, "operator");
  const steps = mergeSteps(detail?.steps ?? [], state);

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

  const title = detail ? `${detail.job} · ${shortId(runId)}` : `Run ${shortId(runId)}`;
  return (
    <Modal title={title} onClose={closeRun} class="drawer">
      <div class="drawer-body" data-testid="run-drawer" data-run-id={runId}>
        {error && <p class="error">{error}</p>}
        <div class="drawer-status">
          <StatusChip status={status} />
          {detail?.dry_run && <span class="tag">dry run</span>}
          <span class="spacer" />
          {operator && running && (
            <button type="button" class="danger" onClick={() => setConfirming(true)}>
              Abort
            </button>
          )}
          {operator && (status === "failed" || status === "aborted") && (
            <button type="button" onClick={retry}>
              Retry from failed step
            </button>
          )}
        </div>
        {detail && (
          <dl class="meta">
            <dt>Run id</dt>
            <dd>
              <code>{detail.id}</code>
            </dd>
            <dt>Triggered by</dt>
            <dd>{detail.triggered_by}</dd>
            <dt>Started</dt>
            <dd>{when(detail.started_at)}</dd>
            <dt>Finished</dt>
            <dd>{when(detail.finished_at)}</dd>
            <dt>Duration</dt>
            <dd>{duration(detail.started_at, detail.finished_at, now)}</dd>
            {detail.scheduled_for && (
              <>
                <dt>Scheduled for</dt>
                <dd>{when(detail.scheduled_for)}</dd>
              </>
            )}
            {detail.resumed_from && (
              <>
                <dt>Retry of</dt>
                <dd>
                  <button type="button" class="link" onClick={() => openRun(detail.resumed_from!)}>
                    {shortId(detail.resumed_from)}
                  </button>
                </dd>
              </>
            )}
            <dt>Params</dt>
            <dd>
              <code>{JSON.stringify(detail.params)}</code>
            </dd>
          </dl>
        )}
        {detail?.error && <p class="error">{detail.error}</p>}

        <h3>Steps</h3>
        <ol class="timeline" data-testid="steps">
          {steps.map((step) => (
            <li key={step.name} class={`timeline-step s-${step.status}`} data-step={step.name} data-status={step.status}>
              <div class="timeline-head">
                <span class="step-index">{step.position + 1}</span>
                <strong>{step.name}</strong>
                {step.type && <span class="muted small">{step.type}</span>}
                <StatusChip status={step.status} />
                <span class="muted small">
                  {duration(step.started_at, step.finished_at, now)}
                  {step.attempts > 1 && ` · ${step.attempts} attempts (${step.attempts - 1} retried)`}
                </span>
              </div>
              {step.error && <p class="error small">{step.error}</p>}
              {(step.input || step.output !== undefined) && (
                <details>
                  <summary>Input and output</summary>
                  <div class="snapshots">
                    <div>
                      <h4>Input</h4>
                      <pre>{pretty(step.input)}</pre>
                    </div>
                    <div>
                      <h4>Output</h4>
                      <pre>{pretty(step.output)}</pre>
                    </div>
                  </div>
                </details>
              )}
            </li>
          ))}
        </ol>

        <h3>Log</h3>
        <LogTail lines={lines} />

        <h3>State diagrams</h3>
        {showDiagrams ? (
          <DiagramView runId={runId} status={status} />
        ) : (
          <button type="button" onClick={() => setShowDiagrams(true)}>
            Show state diagrams
          </button>
        )}
      </div>
      {confirming && (
        <Modal title="Abort this run?" onClose={() => setConfirming(false)}>
          <p>Every running step of this run is cancelled, and the run ends aborted.</p>
          <div class="buttons">
            <button type="button" autofocus onClick={() => setConfirming(false)}>
              Keep running
            </button>
            <button type="button" class="danger" onClick={abort}>
              Abort run
            </button>
          </div>
        </Modal>
      )}
    </Modal>
  );
}

interface ShownStep extends Partial<Step> {
  name: string;
  position: number;
  status: string;
  attempts: number;
  started_at: string | null;
  finished_at: string | null;
  error: string | null;
}

/** The stored steps (with their snapshots), brought up to date by the live state where it is newer. */
function mergeSteps(stored: Step[], state: LiveRun | null): ShownStep[] {
  const byName = new Map<string, ShownStep>(stored.map((step) => [step.name, { ...step }]));
  for (const step of state?.steps ?? []) {
    const known = byName.get(step.name);
    byName.set(step.name, known ? { ...known, ...step, error: step.error ?? known.error ?? null } : { ...step });
  }
  return [...byName.values()].sort((a, b) => a.position - b.position);
}

function LogTail({ lines }: { lines: LiveLine[] }) {
  const ref = useRef<HTMLPreElement>(null);
  useEffect(() => {
    const pre = ref.current;
    if (pre) pre.scrollTop = pre.scrollHeight;
  }, [lines]);
  if (lines.length === 0) return <p class="muted">No log lines yet.</p>;
  return (
    <pre class="log" ref={ref} tabIndex={0} aria-label="Log tail" data-testid="log-tail">
      {lines.map((line) => (
        <div key={line.seq} class={`log-${line.level}`}>
          <span class="muted">{new Date(line.at).toLocaleTimeString()}</span> {line.level.toUpperCase().padEnd(7)}
          {line.step ? `[${line.step}] ` : ""}
          {line.message}
        </div>
      ))}
    </pre>
  );
}

let diagramCount = 0;

function DiagramView({ runId, status }: { runId: string; status: string }) {
  const [diagrams, setDiagrams] = useState<Diagrams | null>(null);
  const [svgs, setSvgs] = useState<{ title: string; svg: string }[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let alive = true;
    api.diagram(runId).then(
      (out) => alive && setDiagrams(out),
      (exc: Error) => alive && setError(exc.message),
    );
    return () => {
      alive = false;
    };
  }, [runId, status]);

  useEffect(() => {
    if (!diagrams) return;
    let alive = true;
    (async () => {
      // mermaid is big: it is loaded only when a diagram is asked for.
      const mermaid = (await import("mermaid")).default;
      mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "neutral" });
      const sources = [
        { title: "Run", text: diagrams.run },
        ...diagrams.steps.map((step) => ({ title: `Step ${step.step} (${step.status})`, text: step.mermaid })),
      ];
      const out = [];
      for (const source of sources) {
        const { svg } = await mermaid.render(`diagram-${++diagramCount}`, source.text);
        out.push({ title: source.title, svg });
      }
      if (alive) setSvgs(out);
    })().catch((exc: Error) => alive && setError(exc.message));
    return () => {
      alive = false;
    };
  }, [diagrams]);

  if (error) return <p class="error">{error}</p>;
  if (!svgs) return <p class="muted">Drawing…</p>;
  return (
    <div class="diagrams" data-testid="diagrams">
      <p class="muted small">Highlighted: the states this run went through (dark: where it is now); #n numbers the moves in order.</p>
      {svgs.map((item) => (
        <figure key={item.title} class="diagram">
          <figcaption>{item.title}</figcaption>
          <div dangerouslySetInnerHTML={{ __html: item.svg }} />
        </figure>
      ))}
    </div>
  );
}
