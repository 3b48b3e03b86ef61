// The run's log viewer: the whole log in a full-height pane, virtualised (only the rows in sight are in
// the page, so 100,000 lines scroll as 100 do), following the end only while the reader is at the end,
// with level, step and state-change filters, a search that highlights and steps through its matches,
// the date and zone on every line, a pane with a line's full text and fields, and a download.
import type { ComponentChildren } from "preact";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import type { LogRow } from "./api";
import { isTransition, type RunLog } from "./runlog";
import { formatAt, useZoneMode, zoneFor } from "./time";

const ROW = 20; // px: every row has the same height, which is what makes the list cheap to window
const OVERSCAN = 8; // rows drawn beyond each edge, so a small scroll shows rows already there
const LEVELS = ["debug", "info", "warning", "error"];

/** Re-render the caller when the log changes (while `active`), at most once per frame. */
export function useLogVersion(log: RunLog, active = true): number {
  const [version, setVersion] = useState(log.version);
  useEffect(() => {
    if (!active) return;
    setVersion(log.version);
    let frame = 0;
    const unsubscribe = log.subscribe(() => {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        setVersion(log.version);
      });
    });
    return () => {
      unsubscribe();
      cancelAnimationFrame(frame);
    };
  }, [log, active]);
  return version;
}

interface Filters {
  level: string;
  step: string; // "" all, "-" run-level lines only, else a step's name
  transitions: boolean;
}

function keep(row: LogRow, filters: Filters, minLevel: number): boolean {
  if (!filters.transitions && isTransition(row)) return false;
  if (minLevel > 0 && LEVELS.indexOf(row.level) < minLevel) return false;
  if (filters.step === "-") return row.step === null;
  if (filters.step) return row.step === filters.step;
  return true;
}

// A row's message in lower case, kept on the row the first time a search reads it (a property is
// several times quicker to read back than a WeakMap entry, which counts at 100,000 rows).
function lowerOf(row: LogRow & { lower?: string }): string {
  return (row.lower ??= row.message.toLowerCase());
}

function firstLine(message: string): string {
  const end = message.indexOf("\n");
  return end < 0 ? message : message.slice(0, end);
}

function extraFields(row: LogRow): Record<string, unknown> | null {
  if (!row.fields || isTransition(row)) return null;
  const { event: _event, ...rest } = row.fields;
  return Object.keys(rest).length ? rest : null;
}

function highlight(text: string, query: string): ComponentChildren {
  if (!query) return text;
  const lower = text.toLowerCase();
  const out: ComponentChildren[] = [];
  let from = 0;
  for (let at = lower.indexOf(query); at >= 0; at = lower.indexOf(query, from)) {
    if (at > from) out.push(text.slice(from, at));
    out.push(<mark key={at}>{text.slice(at, at + query.length)}</mark>);
    from = at + query.length;
  }
  if (from < text.length) out.push(text.slice(from));
  return out;
}

export function lineText(row: LogRow, zone: string): string {
  const step = row.step ? ` [${row.step}]` : "";
  return `${formatAt(row.at, zone, true)} ${row.level.toUpperCase().padEnd(7)}${step} ${row.message}`;
}

export function LogViewer(props: {
  log: RunLog;
  job: string;
  steps: string[];
  running: boolean;
  fileName: string;
  onAnnounce: (text: string) => void;
}) {
  const { log, job, running } = props;
  const version = useLogVersion(log);
  const zone = zoneFor(useZoneMode(), job);
  const [filters, setFilters] = useState<Filters>({ level: "", step: "", transitions: true });
  const [query, setQuery] = useState("");
  const [current, setCurrent] = useState(0); // which match is selected
  const [follow, setFollow] = useState(true);
  const [selected, setSelected] = useState<LogRow | null>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(400);
  const scroller = useRef<HTMLDivElement>(null);
  const pausedAt = useRef(0);
  const needle = query.trim().toLowerCase();

  // The indexes of the rows that pass the filters. Kept from one change of the log to the next and
  // redone only from the first row that changed: while a big log is read, or lines stream in, each
  // frame filters the new rows rather than all 100,000 again (and makes no 100,000-long garbage).
  const filtered = useRef({ filters, list: [] as number[], scanned: 0 });
  const visible = useMemo(() => {
    const cache = filtered.current;
    const from = log.takeChangedFrom();
    if (cache.filters !== filters) {
      filtered.current = { filters, list: [], scanned: 0 };
    } else if (from < cache.scanned) {
      let kept = cache.list.length;
      while (kept > 0 && cache.list[kept - 1] >= from) kept -= 1;
      cache.list.length = kept;
      cache.scanned = from;
    }
    const current = filtered.current;
    const minLevel = filters.level ? LEVELS.indexOf(filters.level) : 0;
    const rows = log.rows;
    for (let index = current.scanned; index < rows.length; index += 1) {
      if (keep(rows[index], filters, minLevel)) current.list.push(index);
    }
    current.scanned = rows.length;
    return current.list; // the same array, grown in place: what depends on it also depends on `version`
  }, [version, filters, log]);

  const matches = useMemo(() => {
    if (!needle) return [];
    const out: number[] = [];
    const rows = log.rows;
    for (let position = 0; position < visible.length; position += 1) {
      if (lowerOf(rows[visible[position]]).includes(needle)) out.push(position);
    }
    return out;
  }, [visible, version, needle]);

  // The pane's height follows the drawer's.
  useLayoutEffect(() => {
    const element = scroller.current;
    if (!element) return;
    const observer = new ResizeObserver(() => setHeight(element.clientHeight));
    observer.observe(element);
    setHeight(element.clientHeight);
    return () => observer.disconnect();
  }, []);

  // Following: stay at the end as lines arrive.
  useLayoutEffect(() => {
    const element = scroller.current;
    if (follow && element) {
      element.scrollTop = element.scrollHeight;
      setScrollTop(element.scrollTop);
    }
  }, [visible, version, follow, height]);

  useEffect(() => {
    if (follow) pausedAt.current = visible.length;
  }, [follow, visible, version]);

  function onScroll() {
    const element = scroller.current!;
    setScrollTop(element.scrollTop);
    const atEnd = element.scrollTop + element.clientHeight >= element.scrollHeight - ROW / 2;
    // Auto-follow only while the reader is at the end; scrolling up pauses it, back down resumes it.
    if (atEnd !== follow) setFollow(atEnd);
  }

  function jumpTo(position: number) {
    const element = scroller.current;
    if (!element) return;
    setFollow(false);
    element.scrollTop = Math.max(position * ROW - element.clientHeight / 2, 0);
    setScrollTop(element.scrollTop);
  }

  function step(by: number) {
    if (!matches.length) return;
    const next = (current + by + matches.length) % matches.length;
    setCurrent(next);
    jumpTo(matches[next]);
  }

  useEffect(() => {
    setCurrent(0);
    if (matches.length) jumpTo(matches[0]);
    props.onAnnounce(needle ? `${matches.length} matching lines` : "");
  }, [needle, filters]);

  async function download() {
    if (!log.caughtUp) await log.read();
    const text = log.rows.map((row) => lineText(row, zone)).join("\n") + "\n";
    const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = props.fileName;
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  const first = Math.max(Math.floor(scrollTop / ROW) - OVERSCAN, 0);
  const last = Math.min(Math.ceil((scrollTop + height) / ROW) + OVERSCAN, visible.length);
  const currentRow = matches.length ? matches[Math.min(current, matches.length - 1)] : -1;
  const fresh = follow ? 0 : visible.length - pausedAt.current;
  const rows = log.rows;
  const shown = [];
  for (let position = first; position < last; position += 1) {
    const row = rows[visible[position]];
    const fields = extraFields(row);
    const message = firstLine(row.message);
    const more = message.length !== row.message.length || fields !== null;
    shown.push(
      <div
        key={row.seq}
        class={`log-line log-${row.level}${isTransition(row) ? " log-transition" : ""}${position === currentRow ? " log-current" : ""}${selected?.seq === row.seq ? " log-selected" : ""}`}
        style={{ top: `${position * ROW}px` }}
        data-seq={row.seq}
        onClick={() => setSelected(row)}
      >
        <span class="log-time">{formatAt(row.at, zone, true)}</span>
        <span class="log-level">{row.level.toUpperCase()}</span>
        <span class="log-step" title={row.step ?? undefined}>
          {row.step ?? ""}
        </span>
        <span class="log-msg">
          {highlight(message, needle)}
          {more && (
            <button
              type="button"
              class="log-more"
              aria-label={`Details of line ${row.seq}`}
              onClick={(event) => {
                event.stopPropagation();
                setSelected(row);
              }}
            >
              ⋯
            </button>
          )}
        </span>
      </div>,
    );
  }

  return (
    <div class="log-viewer" data-testid="log-viewer">
      <div class="log-tools" role="toolbar" aria-label="Log tools">
        <input
          type="search"
          aria-label="Search the log"
          placeholder="Search"
          value={query}
          onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
          onKeyDown={(e) => {
            if (e.key === "Enter") {
              e.preventDefault();
              step(e.shiftKey ? -1 : 1);
            }
          }}
        />
        <span class="small muted match-count" aria-live="off">
          {needle ? (matches.length ? `${Math.min(current, matches.length - 1) + 1} of ${matches.length}` : "no match") : ""}
        </span>
        <button type="button" aria-label="Previous match" disabled={!matches.length} onClick={() => step(-1)}>
          ↑
        </button>
        <button type="button" aria-label="Next match" disabled={!matches.length} onClick={() => step(1)}>
          ↓
        </button>
        <label class="small">
          Level
          <select value={filters.level} onChange={(e) => setFilters({ ...filters, level: (e.target as HTMLSelectElement).value })}>
            <option value="">all</option>
            <option value="info">info and above</option>
            <option value="warning">warning and above</option>
            <option value="error">error</option>
          </select>
        </label>
        <label class="small">
          Step
          <select value={filters.step} onChange={(e) => setFilters({ ...filters, step: (e.target as HTMLSelectElement).value })}>
            <option value="">all</option>
            <option value="-">the run's own lines</option>
            {props.steps.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label class="check small">
          <input
            type="checkbox"
            checked={filters.transitions}
            onChange={(e) => setFilters({ ...filters, transitions: (e.target as HTMLInputElement).checked })}
          />
          State changes
        </label>
        <span class="spacer" />
        <button type="button" aria-pressed={follow} onClick={() => setFollow(!follow)}>
          {follow ? "Following" : "Follow"}
        </button>
        <button type="button" onClick={download}>
          Download
        </button>
      </div>
      <div class="log-status small muted">
        <span data-testid="log-count">
          {visible.length.toLocaleString("en-US")} of {rows.length.toLocaleString("en-US")} lines
        </span>
        {log.progress < 1 && <span> · reading the stored log… {Math.floor(log.progress * 100)}%</span>}
        {!running && log.caughtUp && <span> · the run has ended</span>}
      </div>
      <div
        class="log-scroll"
        ref={scroller}
        tabIndex={0}
        role="region"
        aria-label="Log lines"
        data-testid="log-tail"
        data-line-count={visible.length}
        onScroll={onScroll}
      >
        <div class="log-space" style={{ height: `${visible.length * ROW}px` }}>
          {shown}
        </div>
      </div>
      {fresh > 0 && (
        <button type="button" class="log-fresh" onClick={() => setFollow(true)}>
          {fresh.toLocaleString("en-US")} new {fresh === 1 ? "line" : "lines"} ↓
        </button>
      )}
      {selected && (
        <div class="log-detail" role="region" aria-label="Line details">
          <div class="log-detail-head">
            <strong>Line {selected.seq}</strong>
            <span class="small muted">
              {formatAt(selected.at, zone, true)} · {selected.level.toUpperCase()}
              {selected.step ? ` · ${selected.step}` : ""}
            </span>
            <span class="spacer" />
            <button type="button" class="icon" aria-label="Close line details" onClick={() => setSelected(null)}>
              ×
            </button>
          </div>
          <pre tabIndex={0}>{selected.message}</pre>
          {extraFields(selected) && <pre tabIndex={0}>{JSON.stringify(extraFields(selected), null, 2)}</pre>}
        </div>
      )}
    </div>
  );
}
