// Nomaflow's web UI: Login, Jobs (with In flight), Runs, and the run drawer (`?run=<id>`).
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { clearSession, loadSession, login, onUnauthorized, type Session } from "./api";
import { RunDrawer } from "./drawer";
import { JobsPage } from "./jobs";
import { live } from "./live";
import { prefetchFirstPage, RunsPage } from "./runs";
import "./styles.css";
import { navigate, Toasts, useLocation } from "./ui";

function Login({ onLogin }: { onLogin: (session: Session) => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onLogin(await login(username, password));
    } catch (exc) {
      setError((exc as Error).message);
      setBusy(false);
    }
  }

  return (
    <main class="login">
      <form class="panel form" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Nomaflow</h1>
        <p class="muted">Sign in to watch and run jobs.</p>
        <div class="field">
          <label for="username">Username</label>
          <input
            id="username"
            name="username"
            autocomplete="username"
            required
            value={username}
            onInput={(e) => setUsername((e.target as HTMLInputElement).value)}
          />
        </div>
        <div class="field">
          <label for="password">Password</label>
          <input
            id="password"
            name="password"
            type="password"
            autocomplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
          />
        </div>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy || !username || !password}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}

function LiveIndicator() {
  const [connected, setConnected] = useState(live.connected);
  useEffect(() => live.onStatus(setConnected), []);
  return (
    <span class={`live ${connected ? "live-on" : "live-off"}`} title="Live updates over Socket.IO">
      {connected ? "live" : "offline"}
    </span>
  );
}

function NavLink({ href, label, current }: { href: string; label: string; current: boolean }) {
  return (
    <a
      href={href}
      aria-current={current ? "page" : undefined}
      onClick={(event) => {
        if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
        event.preventDefault();
        navigate(href);
      }}
    >
      {label}
    </a>
  );
}

function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  const { path, query } = useLocation();

  useEffect(() => onUnauthorized(() => setSession(null)), []);
  useEffect(() => {
    if (!session) return;
    live.connect(session.token);
    return () => live.disconnect();
  }, [session]);

  if (!session) return <Login onLogin={setSession} />;
  const runId = query.get("run");
  const onRuns = path.startsWith("/runs");
  return (
    <>
      <header class="topbar">
        <span class="brand">Nomaflow</span>
        <nav aria-label="Main">
          <NavLink href="/" label="Jobs" current={!onRuns} />
          <NavLink href="/runs" label="Runs" current={onRuns} />
        </nav>
        <span class="spacer" />
        <LiveIndicator />
        <span class="user small">
          {session.subject} <span class="muted">({session.role})</span>
        </span>
        <button
          type="button"
          onClick={() => {
            clearSession();
            setSession(null);
          }}
        >
          Sign out
        </button>
      </header>
      <main class="content">{onRuns ? <RunsPage /> : <JobsPage session={session} />}</main>
      {runId && <RunDrawer key={runId} runId={runId} session={session} />}
      <Toasts />
    </>
  );
}

if (loadSession() && location.pathname.startsWith("/runs")) prefetchFirstPage();
render(<App />, document.getElementById("app")!);
