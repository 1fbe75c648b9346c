import { useEffect, useState } from "react";
import { api, onUnauthorized, type Info } from "./api";
import { clearToken, getToken, takeSignInFromFragment, tokenScopes } from "./auth";
import { ErrorBoundary } from "./components/ErrorBoundary";
import { ErrorBox } from "./components/ErrorBox";
import { Definition } from "./pages/Definition";
import { Definitions } from "./pages/Definitions";
import { canManageClients } from "./api/ops";
import { Clients } from "./pages/Clients";
import { Costs } from "./pages/Costs";
import { Queues } from "./pages/Queues";
import { Schedules } from "./pages/Schedules";
import { Run } from "./pages/Run";
import { Runs } from "./pages/Runs";
import { SignIn } from "./pages/SignIn";
import { Link, match, navigate, useLocation } from "./router";

type Session = { kind: "loading" } | { kind: "error"; error: Error } | { kind: "signin"; expired: boolean; error?: Error | null } | { kind: "ready"; info: Info };

// The fragment is read once per page load (React's StrictMode runs effects twice in development).
let fragmentSignIn: Promise<void> | null = null;
function signInOnce(): Promise<void> {
  fragmentSignIn ??= takeSignInFromFragment();
  return fragmentSignIn;
}

export function App() {
  const [session, setSession] = useState<Session>({ kind: "loading" });

  useEffect(() => {
    let cancelled = false;
    const start = async () => {
      let linkError: Error | null = null;
      try {
        await signInOnce();
      } catch (e) {
        linkError = e as Error;
      }
      const info = await api<Info>("/info");
      if (cancelled) return;
      setSession(info.insecure_dev || getToken() ? { kind: "ready", info } : { kind: "signin", expired: false, error: linkError });
    };
    start().catch((error: Error) => !cancelled && setSession({ kind: "error", error }));
    const off = onUnauthorized(() => setSession({ kind: "signin", expired: true }));
    return () => {
      cancelled = true;
      off();
    };
  }, []);

  if (session.kind === "loading") return <p className="muted pad">Loading…</p>;
  if (session.kind === "error") return <main className="pad"><ErrorBox error={session.error} /></main>;
  if (session.kind === "signin") {
    return (
      <SignIn
        expired={session.expired}
        linkError={session.error ?? null}
        onSignedIn={() => api<Info>("/info").then((info) => setSession({ kind: "ready", info }), (error: Error) => setSession({ kind: "error", error }))}
      />
    );
  }
  return <Shell info={session.info} onSignOut={() => { clearToken(); setSession({ kind: "signin", expired: false }); }} />;
}

function Shell({ info, onSignOut }: { info: Info; onSignOut: () => void }) {
  const { path } = useLocation();
  const token = getToken();
  const scopes = info.insecure_dev && !token ? ["admin"] : tokenScopes(token);
  const nav = [
    { to: "/runs", label: "Runs" },
    { to: "/definitions", label: "Definitions" },
    { to: "/queues", label: "Workers & queues" },
    { to: "/schedules", label: "Schedules" },
    { to: "/costs", label: "Costs" },
    ...(canManageClients(scopes) ? [{ to: "/clients", label: "Clients" }] : []),
  ];
  return (
    <>
      <a className="skip" href="#main">Skip to content</a>
      <header className="top">
        <Link to="/runs" className="brand">Spindle</Link>
        <nav aria-label="Main">
          {nav.map((item) => (
            <Link key={item.to} to={item.to} aria-current={path.startsWith(item.to) ? "page" : undefined}>
              {item.label}
            </Link>
          ))}
        </nav>
        <div className="who">
          {info.insecure_dev && !token ? (
            <span className="badge status-failed" title="The server accepts requests without a token">insecure dev</span>
          ) : (
            <>
              <span className="muted small" title="Scopes of this session">{scopes.join(" ")}</span>
              <button type="button" className="link" onClick={onSignOut}>Sign out</button>
            </>
          )}
          <span className="muted small">v{info.version}</span>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <ErrorBoundary resetKey={path}>
          <Page path={path} scopes={scopes} />
        </ErrorBoundary>
      </main>
    </>
  );
}

function Page({ path, scopes }: { path: string; scopes: string[] }) {
  useEffect(() => {
    if (path === "/" || path === "") navigate("/runs", true);
  }, [path]);
  if (path === "/runs") return <Runs />;
  let params = match("/runs/:id", path);
  if (params) return <Run key={params.id} id={params.id} />;
  if (path === "/definitions") return <Definitions />;
  params = match("/definitions/:name", path);
  if (params) return <Definition name={params.name} />;
  if (path === "/queues") return <Queues />;
  if (path === "/schedules") return <Schedules />;
  if (path === "/costs") return <Costs />;
  if (path === "/clients" && canManageClients(scopes)) return <Clients />;
  if (path === "/" || path === "") return null;
  return (
    <section>
      <h1>Not found</h1>
      <p>
        No page at <code>{path}</code>. <Link to="/runs">Back to runs</Link>
      </p>
    </section>
  );
}
