// Small shared pieces: status chips, times, the offline banner, modal dialogs, the router, toasts,
// a ticking clock and the page title.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { pathOf, routeOf } from "./base";
import { serverNow } from "./clock";
import { useOnline } from "./live";
import { ago, formatAt, instantTitle, useZoneMode, zoneFor } from "./time";

export function StatusChip({ status, note }: { status: string; note?: string }) {
  return (
    <span class={`chip chip-${status}`} data-status={status}>
      {status}
      {note && <span class="chip-note"> · {note}</span>}
    </span>
  );
}

/** An instant with its date and zone, in the zone the viewer picked; the other zones on hover. */
export function Time({ at, job, ms }: { at: string | null | undefined; job?: string | null; ms?: boolean }) {
  const mode = useZoneMode();
  if (!at) return <span class="muted">—</span>;
  const zone = zoneFor(mode, job);
  return (
    <time dateTime={at} title={instantTitle(at, job ? zoneFor("job", job) : undefined)}>
      {formatAt(at, zone, ms)}
    </time>
  );
}

/** "3 minutes ago" that keeps itself current (each second while under a minute, then less often). */
export function Ago({ at, past = true }: { at: string | null | undefined; past?: boolean }) {
  const [now, setNow] = useState(serverNow());
  const age = at ? Math.abs(now - Date.parse(at)) : Infinity;
  const every = age < 60_000 ? 1000 : age < 3_600_000 ? 15_000 : 300_000;
  useEffect(() => {
    if (!at) return;
    const timer = setInterval(() => setNow(serverNow()), every);
    return () => clearInterval(timer);
  }, [at, every]);
  if (!at) return null;
  return <span class="ago">{ago(at, now, past)}</span>;
}

/** Shown inside every dialog and view while the live connection is down. */
export function OfflineBanner() {
  const online = useOnline();
  if (online) return null;
  return (
    <p class="offline-banner" role="alert">
      Offline: the connection to the server is lost. Reconnecting… What you see may be out of date, and
      actions are disabled until it is back.
    </p>
  );
}

/** A native modal <dialog>: focus is kept inside, Escape closes it, focus returns where it was.
 * Modal dialogs cover the page, so each shows the offline banner itself. */
export function Modal(props: {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  class?: string;
  /** Attributes for the <dialog> itself (data-testid, ...). */
  attrs?: Record<string, string>;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const onClose = useRef(props.onClose);
  onClose.current = props.onClose;
  useEffect(() => {
    const dialog = ref.current!;
    const opener = document.activeElement as HTMLElement | null;
    dialog.showModal();
    const closed = () => onClose.current();
    dialog.addEventListener("close", closed);
    return () => {
      dialog.removeEventListener("close", closed);
      if (dialog.open) dialog.close();
      opener?.focus?.();
    };
  }, []);
  const titleId = `dialog-${props.title.replace(/\W+/g, "-").toLowerCase()}`;
  return (
    <dialog ref={ref} class={props.class ?? "modal"} aria-labelledby={titleId} {...props.attrs}>
      <header class="dialog-head">
        <h2 id={titleId}>{props.title}</h2>
        <button type="button" class="icon" aria-label="Close" onClick={() => ref.current?.close()}>
          ×
        </button>
      </header>
      <OfflineBanner />
      {props.children}
    </dialog>
  );
}

// --- routing: the path (relative to the app's base) picks the page, `?run=<id>` opens the drawer ---

export function navigate(url: string, replace = false, state: unknown = null): void {
  if (replace) history.replaceState(state, "", url);
  else history.pushState(state, "", url);
  window.dispatchEvent(new Event("nomaflow:navigate"));
}

export interface Place {
  route: string;
  query: URLSearchParams;
  state: unknown;
}

export function useLocation(): Place {
  const [href, setHref] = useState(location.href);
  useEffect(() => {
    const changed = () => setHref(location.href);
    window.addEventListener("popstate", changed);
    window.addEventListener("nomaflow:navigate", changed);
    return () => {
      window.removeEventListener("popstate", changed);
      window.removeEventListener("nomaflow:navigate", changed);
    };
  }, []);
  const url = new URL(href);
  return { route: routeOf(url.pathname), query: url.searchParams, state: history.state };
}

/** Go to one of the app's pages, keeping nothing of the current query. */
export function go(route: string, query?: URLSearchParams, replace = false, state: unknown = null): void {
  navigate(pathOf(route, query), replace, state);
}

/** Change the current query (the route stays), as a new history entry unless `replace`. */
export function setQuery(change: (query: URLSearchParams) => void, replace = false): void {
  const url = new URL(location.href);
  change(url.searchParams);
  navigate(url.pathname + url.search, replace, history.state);
}

export function runHref(id: string): string {
  const url = new URL(location.href);
  url.searchParams.set("run", id);
  for (const key of ["tab", "step"]) url.searchParams.delete(key);
  return url.pathname + url.search;
}

export function openRun(id: string): void {
  navigate(runHref(id), false, history.state);
}

export function closeRun(): void {
  setQuery((query) => {
    for (const key of ["run", "tab", "step"]) query.delete(key);
  });
}

/** A link to a run's drawer that opens it in place (and in a new tab with a modifier key). */
export function RunLink({ id, children, label }: { id: string; children: ComponentChildren; label?: string }) {
  return (
    <a
      href={runHref(id)}
      aria-label={label}
      onClick={(event) => {
        if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
        event.preventDefault();
        openRun(id);
      }}
    >
      {children}
    </a>
  );
}

// --- toasts ---

export interface Toast {
  id: number;
  text: string;
  kind: "info" | "error";
}

let toastId = 0;
const toastListeners = new Set<(toasts: Toast[]) => void>();
let toasts: Toast[] = [];

export function toast(text: string, kind: Toast["kind"] = "info"): void {
  const item = { id: ++toastId, text, kind };
  toasts = [...toasts, item];
  toastListeners.forEach((listener) => listener(toasts));
  setTimeout(() => {
    toasts = toasts.filter((other) => other.id !== item.id);
    toastListeners.forEach((listener) => listener(toasts));
  }, 6000);
}

export function Toasts() {
  const [items, setItems] = useState<Toast[]>(toasts);
  useEffect(() => {
    toastListeners.add(setItems);
    return () => void toastListeners.delete(setItems);
  }, []);
  return (
    <div class="toasts" role="status" aria-live="polite">
      {items.map((item) => (
        <div key={item.id} class={`toast toast-${item.kind}`}>
          {item.text}
        </div>
      ))}
    </div>
  );
}

/** The server's current time, re-read every `ms` while `active`: for running durations. */
export function useNow(ms: number, active = true): number {
  const [now, setNow] = useState(serverNow());
  useEffect(() => {
    if (!active) return;
    setNow(serverNow());
    const timer = setInterval(() => setNow(serverNow()), ms);
    return () => clearInterval(timer);
  }, [ms, active]);
  return active ? Math.max(now, serverNow()) : now;
}

/** The document's title while the caller is shown (the one before comes back when it goes). */
export function useTitle(title: string): void {
  useEffect(() => {
    const before = document.title;
    document.title = `${title} · Nomaflow`;
    return () => {
      document.title = before;
    };
  }, [title]);
}
