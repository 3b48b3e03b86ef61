// Small shared pieces: status chips, modal dialogs, the router, toasts and a ticking clock.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

export function StatusChip({ status }: { status: string }) {
  return (
    <span class={`chip chip-${status}`} data-status={status}>
      {status}
    </span>
  );
}

/** A native modal <dialog>: focus is kept inside, Escape closes it, focus returns where it was. */
export function Modal(props: {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  class?: string;
  labelledBy?: string;
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
    <dialog ref={ref} class={props.class ?? "modal"} aria-labelledby={titleId}>
      <header class="dialog-head">
        <h2 id={titleId}>{props.title}</h2>
        <button type="button" class="icon" aria-label="Close" onClick={() => ref.current?.close()}>
          ×
        </button>
      </header>
      {props.children}
    </dialog>
  );
}

// --- routing: the path picks the page, `?run=<id>` opens the run drawer over it ---

export function navigate(url: string, replace = false): void {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  window.dispatchEvent(new Event("nomaflow:navigate"));
}

export function useLocation(): { path: string; query: URLSearchParams } {
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
  return { path: url.pathname, query: url.searchParams };
}

export function openRun(id: string): void {
  const url = new URL(location.href);
  url.searchParams.set("run", id);
  navigate(url.pathname + url.search);
}

export function closeRun(): void {
  const url = new URL(location.href);
  url.searchParams.delete("run");
  navigate(url.pathname + url.search);
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
    return () => toastListeners.delete(setItems);
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

/** The current time, re-read every `ms` while `active`: for "3 minutes ago" and running durations. */
export function useNow(ms: number, active = true): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms, active]);
  return now;
}
