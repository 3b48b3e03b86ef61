// The Runs page: history, newest first, filtered, paged through with the API's keyset cursor.
import { useEffect, useLayoutEffect, useState } from "preact/hooks";
import { api, type Job, type RunPage, type RunStatus } from "./api";
import { duration, shortId, when } from "./format";
import { openRun, StatusChip } from "./ui";

const STATUSES: RunStatus[] = ["running", "succeeded", "failed", "aborted", "skipped"];
const PAGE_SIZE = 50;

interface Filters {
  job: string;
  status: string;
  triggered_by: string;
  since: string;
  until: string;
}

const NO_FILTERS: Filters = { job: "", status: "", triggered_by: "", since: "", until: "" };

function queryOf(filters: Filters, cursor: string | null): URLSearchParams {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (filters.job) query.set("job", filters.job);
  if (filters.status) query.set("status", filters.status);
  if (filters.triggered_by.trim()) query.set("triggered_by", filters.triggered_by.trim());
  // datetime-local is the browser's local time; the API wants an offset: send UTC.
  if (filters.since) query.set("since", new Date(filters.since).toISOString());
  if (filters.until) query.set("until", new Date(filters.until).toISOString());
  if (cursor) query.set("cursor", cursor);
  return query;
}

let prefetched: Promise<RunPage> | null = null;

/** Ask for the first page before the app renders, when it opens on /runs (see main.tsx). */
export function prefetchFirstPage(): void {
  prefetched = api.runs(queryOf(NO_FILTERS, null));
  prefetched.catch(() => {}); // the page reports the error when it takes the promise
}

function takePrefetched(): Promise<RunPage> | null {
  const taken = prefetched;
  prefetched = null;
  return taken;
}

export function RunsPage() {
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  // cursors[i] is the cursor that fetched page i (null for the first).
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [page, setPage] = useState<RunPage | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [jobs, setJobs] = useState<Job[] | null>(null);
  const cursor = cursors[cursors.length - 1];

  useEffect(() => {
    // The job filter's choices wait for the first page: the history is what the operator came for.
    if (page && jobs === null) api.jobs().then(setJobs, () => setJobs([]));
  }, [page, jobs]);

  useEffect(() => {
    let alive = true;
    setError(null);
    const first = filters === NO_FILTERS && cursor === null ? takePrefetched() : null;
    (first ?? api.runs(queryOf(filters, cursor))).then(
      (out) => alive && setPage(out),
      (exc: Error) => alive && (setError(exc.message), setPage({ runs: [], next_cursor: null })),
    );
    return () => {
      alive = false;
    };
  }, [filters, cursor]);

  useLayoutEffect(() => {
    // For benchmarks/ui_runs_page.py: the moment the first page is in the DOM.
    if (page && cursors.length === 1 && !performance.getEntriesByName("nomaflow:runs-rendered").length) {
      performance.mark("nomaflow:runs-rendered");
    }
  }, [page]);

  function apply(event: Event) {
    event.preventDefault();
    setFilters({ ...draft });
    setCursors([null]);
  }

  function reset() {
    setDraft(NO_FILTERS);
    setFilters(NO_FILTERS);
    setCursors([null]);
  }

  const set = (key: keyof Filters) => (event: Event) =>
    setDraft({ ...draft, [key]: (event.target as HTMLInputElement | HTMLSelectElement).value });

  return (
    <section class="panel" aria-labelledby="runs-title">
      <div class="panel-head">
        <h1 id="runs-title">Runs</h1>
      </div>
      <form class="filters" onSubmit={apply} aria-label="Filter runs">
        <label>
          Job
          <select value={draft.job} onChange={set("job")} name="job">
            <option value="">All jobs</option>
            {(jobs ?? []).map((job) => (
              <option key={job.name} value={job.name}>
                {job.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select value={draft.status} onChange={set("status")} name="status">
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
          Started after
          <input type="datetime-local" name="since" value={draft.since} onInput={set("since")} />
        </label>
        <label>
          Started before
          <input type="datetime-local" name="until" value={draft.until} onInput={set("until")} />
        </label>
        <div class="filter-buttons">
          <button type="submit" class="primary">
            Apply
          </button>
          <button type="button" onClick={reset}>
            Reset
          </button>
        </div>
      </form>
      {error && <p class="error">{error}</p>}
      {!page && <p class="muted">Loading…</p>}
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
                  <th scope="col">Run</th>
                </tr>
              </thead>
              <tbody>
                {page.runs.map((run) => (
                  <tr key={run.id} data-run-id={run.id}>
                    <td data-label="Status">
                      <div>
                        <StatusChip status={run.status} />
                        {run.dry_run && <span class="tag">dry run</span>}
                      </div>
                    </td>
                    <td data-label="Job">{run.job}</td>
                    <td data-label="Trigger">{run.triggered_by}</td>
                    <td data-label="Started">{when(run.started_at)}</td>
                    <td data-label="Duration">{run.status === "running" ? "running" : duration(run.started_at, run.finished_at)}</td>
                    <td data-label="Run">
                      <button type="button" class="link" onClick={() => openRun(run.id)} aria-label={`Open run ${run.id}`}>
                        {shortId(run.id)}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {page.runs.length === 0 && <p class="muted">No runs match.</p>}
          <nav class="pager" aria-label="Pages">
            <button type="button" disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>
              ← Newer
            </button>
            <span class="muted small">Page {cursors.length}</span>
            <button
              type="button"
              disabled={!page.next_cursor}
              onClick={() => page.next_cursor && setCursors([...cursors, page.next_cursor])}
            >
              Older →
            </button>
          </nav>
        </>
      )}
    </section>
  );
}
