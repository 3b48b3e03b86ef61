// Nomaflow's web UI: Login, Jobs (with In flight), Runs, and the run drawer (`?run=<id>`).
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { clearSession, hostSession, loadSession, login, onUnauthorized, sessionRefused, type Session } from "./api";
import { pathOf, routeOf } from "./base";
import { RunDrawer } from "./drawer";
import { JobsPage } from "./jobs";
import { live, useOnline } from "./live";
import { prefetchFirstPage, RunsPage } from "./runs";
import "./styles.css";
import { LOCAL_ZONE, setZoneMode, useZoneMode, type ZoneMode } from "./time";
import { go, OfflineBanner, Toasts, useLocation, useTitle } from "./ui";

function Login({ onLogin, notice }: { onLogin: (session: Session) => void; notice: string | null }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useTitle("Sign in");

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

  const message = error ?? notice;
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
        {message && (
          <p class="error" role="alert">
            {message}
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
  const online = useOnline();
  return (
    <span class={`live ${online ? "live-on" : "live-off"}`} title="Live updates over Socket.IO">
      {online ? "live" : "offline"}
    </span>
  );
}

function ZoneSwitch() {
  const mode = useZoneMode();
  return (
    <label class="zone-switch small">
      Times in
      <select value={mode} onChange={(e) => setZoneMode((e.target as HTMLSelectElement).value as ZoneMode)}>
        <option value="local">your zone ({LOCAL_ZONE})</option>
        <option value="utc">UTC</option>
        <option value="job">each job's zone</option>
      </select>
    </label>
  );
}

function NavLink({ route, label, current }: { route: string; label: string; current: boolean }) {
  return (
    <a
      href={pathOf(route)}
      aria-current={current ? "page" : undefined}
      onClick={(event) => {
        if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
        event.preventDefault();
        go(route);
      }}
    >
      {label}
    </a>
  );
}

function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  // Without a sign-in of ours (at start, or once the server refused it), the server is asked first
  // whether the host application has signed the user in.
  const [asking, setAsking] = useState(session === null);
  const [notice, setNotice] = useState<string | null>(null);
  const { route, query } = useLocation();

  useEffect(() => {
    if (!asking) return;
    hostSession()
      .then((found) => {
        setSession(found.session);
        if (found.session) setNotice(null);
        else if (found.notice) setNotice(found.notice);
      })
      .catch((error: Error) => setNotice(error.message))
      .finally(() => setAsking(false));
  }, [asking]);
  useEffect(
    () =>
      onUnauthorized((why) => {
        setNotice(why);
        setSession(null);
        setAsking(true);
      }),
    [],
  );
  useEffect(() => {
    if (!session) return;
    live.connect(session.token, sessionRefused);
    return () => live.disconnect();
  }, [session]);

  if (asking) return <main class="login" aria-busy="true" />;
  if (!session)
    return (
      <Login
        notice={notice}
        onLogin={(next) => {
          setNotice(null);
          setSession(next);
        }}
      />
    );
  const runId = query.get("run");
  const onRuns = route.startsWith("runs");
  return (
    <>
      <header class="topbar">
        <span class="brand">Nomaflow</span>
        <nav aria-label="Main">
          <NavLink route="" label="Jobs" current={!onRuns} />
          <NavLink route="runs" label="Runs" current={onRuns} />
        </nav>
        <span class="spacer" />
        <ZoneSwitch />
        <LiveIndicator />
        <span class="user small">
          {session.subject} <span class="muted">({session.role})</span>
        </span>
        {session.token !== null && (
          <button
            type="button"
            onClick={() => {
              clearSession();
              setSession(null);
            }}
          >
            Sign out
          </button>
        )}
      </header>
      <main class="content">
        <OfflineBanner />
        {onRuns ? <RunsPage /> : <JobsPage session={session} />}
      </main>
      {runId && <RunDrawer key={runId} runId={runId} session={session} />}
      <Toasts />
    </>
  );
}

if (loadSession() && routeOf(location.pathname).startsWith("runs")) prefetchFirstPage();
render(<App />, document.getElementById("app")!);
