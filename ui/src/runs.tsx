// The Runs page: history, newest first, filtered, paged with the API's keyset cursor, and live: runs
// that start, are skipped or end change the rows in place. Filters and cursor live in the address, so
// a view can be shared and the back button goes back to the previous filters.
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, type Job, type Run, type RunPage, type RunStatus } from "./api";
import { blockingRunOf, shortId } from "./format";
import { live, useOnline, useReconnected } from "./live";
import { duration, isoToWallTime, useZoneMode, wallTimeToIso, zoneFor } from "./time";
import { go, RunLink, StatusChip, Time, useLocation, useNow, useTitle } from "./ui";

const STATUSES: RunStatus[] = ["running", "succeeded", "failed", "aborted", "skipped"];
const PAGE_SIZE = 50;
// Live rows added on top of the first page, at most: past this, a notice offers to reload instead.
const MAX_LIVE_ROWS = 200;
const FILTER_KEYS = ["job", "status", "triggered_by", "since", "until"] as const;

type FilterKey = (typeof FILTER_KEYS)[number];
type Filters = Record<FilterKey, string>;

function filtersOf(query: URLSearchParams): Filters {
  return Object.fromEntries(FILTER_KEYS.map((key) => [key, query.get(key) ?? ""])) as Filters;
}

function apiQuery(filters: Filters, cursor: string | null): URLSearchParams {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  for (const key of FILTER_KEYS) if (filters[key]) query.set(key, filters[key]);
  if (cursor) query.set("cursor", cursor);
  return query;
}

/** The address's query for these filters and cursor (what the Runs page shows is all in it). */
function pageQuery(filters: Filters, cursor: string | null): URLSearchParams {
  const query = new URLSearchParams();
  for (const key of FILTER_KEYS) if (filters[key].trim()) query.set(key, filters[key].trim());
  if (cursor) query.set("cursor", cursor);
  return query;
}

/** Whether a run that has just started or ended belongs on the first page of these filters. */
function matches(run: Run, filters: Filters): boolean {
  if (filters.job && run.job !== filters.job) return false;
  if (filters.status && run.status !== filters.status) return false;
  if (filters.triggered_by && run.triggered_by !== filters.triggered_by) return false;
  if (filters.since && Date.parse(run.started_at) < Date.parse(filters.since)) return false;
  if (filters.until && Date.parse(run.started_at) >= Date.parse(filters.until)) return false;
  return true;
}

let prefetched: { key: string; page: Promise<RunPage> } | null = null;

/** Ask for the first page before the app renders, when it opens on /runs (see main.tsx). */
export function prefetchFirstPage(): void {
  const query = new URLSearchParams(location.search);
  const key = apiQuery(filtersOf(query), query.get("cursor")).toString();
  prefetched = { key, page: api.runs(new URLSearchParams(key)) };
  prefetched.page.catch(() => {}); // the page reports the error when it takes the promise
}

function takePrefetched(key: string): Promise<RunPage> | null {
  const taken = prefetched?.key === key ? prefetched.page : null;
  prefetched = null;
  return taken;
}

function runOfEvent(event: string, data: any): Run | null {
  if (event !== "RunStarted" && event !== "RunSkipped") return null;
  return {
    id: data.run_id,
    job: data.job,
    app: "",
    status: event === "RunStarted" ? "running" : "skipped",
    triggered_by: data.triggered_by,
    params: data.params ?? {},
    dry_run: Boolean(data.dry_run),
    scheduled_for: data.scheduled_for ?? null,
    started_at: data.at,
    finished_at: event === "RunSkipped" ? data.at : null,
    error: event === "RunSkipped" ? (data.reason ?? null) : null,
    owner: null,
    resumed_from: null,
  };
}

interface Shown {
  page: RunPage;
  newer: number; // runs started meanwhile that this page does not show
}

/** The page with one live event applied: a run that starts or is skipped goes on top of the first page
 * (when it matches the filters), a run that ends changes in place (or leaves, when it no longer matches). */
function applyRunEvent(shown: Shown, event: string, data: any, filters: Filters, cursor: string | null): Shown {
  const { page } = shown;
  const started = runOfEvent(event, data);
  if (started) {
    if (!matches(started, filters) || page.runs.some((run) => run.id === started.id)) return shown;
    if (cursor || page.runs.length >= PAGE_SIZE + MAX_LIVE_ROWS) return { ...shown, newer: shown.newer + 1 };
    return { ...shown, page: { ...page, runs: [started, ...page.runs] } };
  }
  if (event !== "RunFinished" || !page.runs.some((run) => run.id === data.run_id)) return shown;
  const runs = page.runs
    .map((run) =>
      run.id === data.run_id
        ? { ...run, status: data.status as RunStatus, finished_at: data.at, error: data.error ?? null }
        : run,
    )
    .filter((run) => run.id !== data.run_id || matches(run, filters));
  return { ...shown, page: { ...page, runs } };
}

export function RunsPage() {
  const { query, state } = useLocation();
  const filters = filtersOf(query);
  const cursor = query.get("cursor");
  const cursors = ((state as { cursors?: (string | null)[] } | null)?.cursors ?? []).slice();
  const key = apiQuery(filters, cursor).toString();
  const [draft, setDraft] = useState<Filters>(filters);
  const [shown, setShown] = useState<Shown | null>(null);
  const [error, setError] = useState<string | null>(null);
  const page = shown?.page ?? null;
  const newer = shown?.newer ?? 0;
  // Live events that arrive while a page is being read are applied to it once it is in.
  const sinceRead = useRef<[string, any][] | null>(null);
  const [jobs, setJobs] = useState<Job[] | null>(null);
  const [reloads, setReloads] = useState(0);
  const mode = useZoneMode();
  const zone = zoneFor(mode);
  const online = useOnline();
  const current = useRef({ filters, cursor });
  current.current = { filters, cursor };
  const shownPage = useRef<RunPage | null>(null);
  shownPage.current = page;
  useTitle("Runs");
  useReconnected(() => setReloads((n) => n + 1));

  // Back, forward and shared links change the address: the form follows it.
  const filterKey = pageQuery(filters, null).toString();
  useEffect(() => setDraft(filtersOf(new URLSearchParams(filterKey))), [filterKey]);

  useEffect(() => {
    // The job filter's choices wait for the first page: the history is what the operator came for.
    if (page && jobs === null) api.jobs().then(setJobs, () => setJobs([]));
  }, [page, jobs]);

  useEffect(() => {
    let alive = true;
    sinceRead.current = [];
    (takePrefetched(key) ?? api.runs(new URLSearchParams(key))).then(
      (out) => {
        if (!alive) return;
        const { filters: now, cursor: at } = current.current;
        let next: Shown = { page: out, newer: 0 };
        for (const [event, data] of sinceRead.current ?? []) next = applyRunEvent(next, event, data, now, at);
        sinceRead.current = null;
        setShown(next);
        setError(null);
      },
      (exc: Error) => {
        sinceRead.current = null;
        // Unreachable while rows are shown: keep them (the offline banner says they may be stale).
        if (alive && !(exc instanceof ApiError && exc.status === 0 && shownPage.current)) setError(exc.message);
      },
    );
    return () => {
      alive = false;
    };
  }, [key, reloads]);

  useEffect(
    () =>
      live.subscribe("jobs", (event, data) => {
        if (!data?.run_id || !["RunStarted", "RunSkipped", "RunFinished"].includes(event)) return;
        sinceRead.current?.push([event, data]);
        const { filters: now, cursor: at } = current.current;
        setShown((old) => old && applyRunEvent(old, event, data, now, at));
      }),
    [],
  );

  useLayoutEffect(() => {
    // For benchmarks/ui_runs_page.py: the moment the first page is in the DOM.
    if (page && !cursor && !performance.getEntriesByName("nomaflow:runs-rendered").length) {
      performance.mark("nomaflow:runs-rendered");
    }
  }, [page]);

  function show(next: Filters, nextCursor: string | null = null, nextCursors: (string | null)[] = []) {
    const wanted = pageQuery(next, nextCursor);
    // Applying what is already shown reads it again without adding a step to the back button.
    const same = wanted.toString() === pageQuery(filters, cursor).toString();
    if (same) setReloads((n) => n + 1);
    go("runs", wanted, same, { cursors: nextCursors });
  }

  function apply(event: Event) {
    event.preventDefault();
    show(draft);
  }

  const set = (key: FilterKey, immediately = false) => (event: Event) => {
    const next = { ...draft, [key]: (event.target as HTMLInputElement | HTMLSelectElement).value };
    setDraft(next);
    if (immediately) show(next);
  };
  const setTime = (key: "since" | "until") => (event: Event) => {
    const wall = (event.target as HTMLInputElement).value;
    setDraft({ ...draft, [key]: wall ? (wallTimeToIso(wall, zone) ?? "") : "" });
  };

  const running = page?.runs.some((run) => run.status === "running") ?? false;
  const now = useNow(1000, running);
  const zoneNote = `(${zone})`;
  return (
    <section class="panel" aria-labelledby="runs-title">
      <div class="panel-head">
        <h1 id="runs-title">Runs</h1>
        <span class="muted small">newest first{online ? ", live" : ""}</span>
      </div>
      <form class="filters" onSubmit={apply} aria-label="Filter runs">
        <label>
          Job
          <select value={draft.job} onChange={set("job", true)} name="job">
            <option value="">All jobs</option>
            {draft.job && !(jobs ?? []).some((job) => job.name === draft.job) && (
              <option value={draft.job}>{draft.job}</option>
            )}
            {(jobs ?? []).map((job) => (
              <option key={job.name} value={job.name}>
                {job.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select value={draft.status} onChange={set("status", true)} name="status">
            <option value="">Any status</option>
            {STATUSES.map((status) => (
              <option key={status} value={status}>
                {status}
              </option>
            ))}
          </select>
        </label>
        <label>
          Trigger
          <input
            name="triggered_by"
            value={draft.triggered_by}
            onInput={set("triggered_by")}
            placeholder="cron, api, user:alice"
          />
        </label>
        <label>
          Started after <span class="zone-note">{zoneNote}</span>
          <input
            type="datetime-local"
            name="since"
            value={draft.since ? isoToWallTime(draft.since, zone) : ""}
            onChange={setTime("since")}
          />
        </label>
        <label>
          Started before <span class="zone-note">{zoneNote}</span>
          <input
            type="datetime-local"
            name="until"
            value={draft.until ? isoToWallTime(draft.until, zone) : ""}
            onChange={setTime("until")}
          />
        </label>
        <div class="filter-buttons">
          <button type="submit" class="primary">
            Apply
          </button>
          <button type="button" onClick={() => show({ job: "", status: "", triggered_by: "", since: "", until: "" })}>
            Reset
          </button>
        </div>
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {newer > 0 && (
        <p class="notice">
          {newer === 1 ? "1 newer run" : `${newer} newer runs`} since this page was read.{" "}
          <button type="button" class="link" onClick={() => show(filters)}>
            Show the newest
          </button>
        </p>
      )}
      {!page && !error && <p class="muted">Loading…</p>}
      {page && (
        <>
          <div class="table-wrap">
            <table class="table cards" data-testid="runs-table" data-state="loaded">
              <thead>
                <tr>
                  <th scope="col">Status</th>
                  <th scope="col">Job</th>
                  <th scope="col">Trigger</th>
                  <th scope="col">Started</th>
                  <th scope="col">Duration</th>
                  <th scope="col">Error or reason</th>
                  <th scope="col">Run</th>
                </tr>
              </thead>
              <tbody>
                {page.runs.map((run) => (
                  <tr key={run.id} data-run-id={run.id} data-job={run.job}>
                    <td data-label="Status">
                      <div>
                        <StatusChip status={run.status} />
                        {run.dry_run && <span class="tag">dry run</span>}
                      </div>
                    </td>
                    <td data-label="Job">{run.job}</td>
                    <td data-label="Trigger">{run.triggered_by}</td>
                    <td data-label="Started">
                      <Time at={run.started_at} job={run.job} />
                    </td>
                    <td data-label="Duration">
                      {run.status === "skipped" ? "—" : duration(run.started_at, run.finished_at, now)}
                    </td>
                    <td data-label="Error or reason" class="reason">
                      <Reason run={run} />
                    </td>
                    <td data-label="Run">
                      <RunLink id={run.id} label={`Open run ${run.id}`}>
                        <code>{shortId(run.id)}</code>
                      </RunLink>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {page.runs.length === 0 && !error && <p class="muted">No runs match.</p>}
          <nav class="pager" aria-label="Pages">
            <button
              type="button"
              disabled={!cursor}
              onClick={() => {
                // Back one page when this session came here by "Older"; from a shared link, the newest.
                const previous = cursors.length ? cursors[cursors.length - 1] : null;
                show(filters, previous, cursors.slice(0, -1));
              }}
            >
              ← Newer
            </button>
            <span class="muted small">{cursor ? `Page ${cursors.length + 1}` : "Newest"}</span>
            <button
              type="button"
              disabled={!page.next_cursor}
              onClick={() => page.next_cursor && show(filters, page.next_cursor, [...cursors, cursor])}
            >
              Older →
            </button>
          </nav>
        </>
      )}
    </section>
  );
}

/** A failed or aborted run's error; for a skipped run, why, with a link to the run that blocked it. */
function Reason({ run }: { run: Run }) {
  if (run.status === "skipped") {
    const blocking = blockingRunOf(run.error);
    return (
      <span class="small">
        {blocking ? (
          <>
            already running:{" "}
            <RunLink id={blocking} label={`Open blocking run ${blocking}`}>
              <code>{shortId(blocking)}</code>
            </RunLink>
          </>
        ) : (
          (run.error ?? "skipped")
        )}
      </span>
    );
  }
  if (!run.error) return null;
  return (
    <span class="small error-text" title={run.error}>
      {run.error}
    </span>
  );
}
