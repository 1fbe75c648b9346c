import { useEffect, useState, type FormEvent } from "react";
import { api } from "../api";
import { SCOPES, type Client, type CreatedClient } from "../api/ops";
import { Confirm } from "../components/Confirm";
import { ErrorBox } from "../components/ErrorBox";
import { formatTime } from "../format";
import { usePolled } from "../hooks";

/** OAuth clients (admin scope only; the server refuses the routes to anyone else). */
export function Clients() {
  const list = usePolled((signal) => api<{ clients: Client[]; count: number }>("/clients", { signal }), []);
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<string[]>(["workflows"]);
  const [created, setCreated] = useState<CreatedClient | null>(null);
  const [revoking, setRevoking] = useState<Client | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);

  useEffect(() => {
    document.title = "Clients · Spindle";
  }, []);

  async function create(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setCreated(null);
    try {
      setCreated(await api<CreatedClient>("/clients", { method: "POST", json: { name: name.trim(), scopes } }));
      setName("");
      list.reload();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  }

  async function revoke() {
    if (!revoking) return;
    setBusy(true);
    setError(null);
    try {
      await api(`/clients/${encodeURIComponent(revoking.client_id)}`, { method: "DELETE" });
      setRevoking(null);
      list.reload();
    } catch (err) {
      setError(err as Error);
      setRevoking(null);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="clients-title">
      <div className="page-head">
        <h1 id="clients-title">Clients</h1>
        <p className="muted small">OAuth clients that get tokens with <code>client_credentials</code>. Secrets are shown once, when a client is made.</p>
      </div>
      <ErrorBox error={list.error ?? error} />
      <form className="client-form" onSubmit={create} aria-label="New client">
        <label>
          Name
          <input name="name" required maxLength={255} value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <fieldset>
          <legend>Scopes</legend>
          {SCOPES.map((scope) => (
            <label key={scope} className="check">
              <input
                type="checkbox"
                name="scope"
                value={scope}
                checked={scopes.includes(scope)}
                onChange={(e) => setScopes(e.target.checked ? [...scopes, scope] : scopes.filter((s) => s !== scope))}
              />
              {scope}
            </label>
          ))}
        </fieldset>
        <button type="submit" className="primary" disabled={busy || !name.trim() || scopes.length === 0}>Create client</button>
      </form>
      {created && (
        <div className="secret" role="status" data-testid="created-client">
          <p><strong>{created.name}</strong> created. Copy the secret now: it is not shown again.</p>
          <dl className="facts">
            <div><dt>client_id</dt><dd className="mono">{created.client_id}</dd></div>
            <div><dt>client_secret</dt><dd className="mono" data-testid="client-secret">{created.client_secret}</dd></div>
          </dl>
          <button type="button" onClick={() => setCreated(null)}>Done</button>
        </div>
      )}
      <table className="table" aria-label="Clients">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Client id</th>
            <th scope="col">Scopes</th>
            <th scope="col">Created</th>
            <th scope="col">State</th>
            <th scope="col"><span className="visually-hidden">Actions</span></th>
          </tr>
        </thead>
        <tbody>
          {list.data?.clients.map((c) => (
            <tr key={c.client_id} data-testid="client-row" data-name={c.name}>
              <th scope="row">{c.name}</th>
              <td className="mono small">{c.client_id}</td>
              <td>{c.scopes.join(" ")}</td>
              <td>{formatTime(c.created_at)}</td>
              <td>{c.active ? <span className="badge status-completed">active</span> : <span className="badge status-failed" title={formatTime(c.revoked_at)}>revoked</span>}</td>
              <td>{c.active && <button type="button" className="danger" onClick={() => setRevoking(c)}>Revoke</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <Confirm
        open={revoking !== null}
        title={`Revoke ${revoking?.name ?? ""}?`}
        confirmLabel="Revoke"
        danger
        busy={busy}
        onConfirm={() => void revoke()}
        onClose={() => setRevoking(null)}
      >
        <p>Its tokens stop working at once. This cannot be undone; make a new client instead.</p>
      </Confirm>
    </section>
  );
}
