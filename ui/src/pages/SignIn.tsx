import { useState, type FormEvent } from "react";
import { ApiError } from "../api";
import { setToken } from "../auth";
import { ErrorBox } from "../components/ErrorBox";

/** Exchanges a client id and secret for a token (client_credentials); the secret is not kept anywhere. */
export function SignIn({ onSignedIn, expired, linkError }: { onSignedIn: () => void; expired: boolean; linkError: Error | null }) {
  const [clientId, setClientId] = useState("");
  const [secret, setSecret] = useState("");
  const [error, setError] = useState<Error | null>(linkError);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const response = await fetch("/api/v1/oauth/token", {
        method: "POST",
        credentials: "omit",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ grant_type: "client_credentials", client_id: clientId.trim(), client_secret: secret }),
      });
      const body = await response.json().catch(() => null);
      if (!response.ok) {
        throw new ApiError(response.status, body?.error?.code ?? "HTTP_" + response.status, body?.error?.message ?? response.statusText);
      }
      setToken(body.access_token as string);
      setSecret("");
      onSignedIn();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="signin">
      <form onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Sign in to Spindle</h1>
        {expired && <p className="muted">Your session ended; sign in again.</p>}
        <label>
          Client id
          <input name="client_id" autoComplete="username" value={clientId} onChange={(e) => setClientId(e.target.value)} required autoFocus />
        </label>
        <label>
          Client secret
          <input name="client_secret" type="password" autoComplete="current-password" value={secret} onChange={(e) => setSecret(e.target.value)} required />
        </label>
        <ErrorBox error={error} />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <p className="muted small">
          On the server's machine, <code>spindle ui</code> prints a sign-in link. Create clients with <code>spindle clients create NAME</code>.
        </p>
      </form>
    </main>
  );
}
