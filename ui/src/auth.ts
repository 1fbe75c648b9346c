// The access token lives in sessionStorage only: gone when the tab closes, never in a cookie (so never sent
// implicitly) and never left in the URL.
const KEY = "spindle.token";

export function getToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function setToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function clearToken(): void {
  sessionStorage.removeItem(KEY);
}

/** The scopes a token carries, read from its payload (for showing or hiding screens; the server enforces them). */
export function tokenScopes(token: string | null): string[] {
  if (!token) return [];
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(payload)) as { scope?: string; scp?: string | string[] };
    const scope = claims.scope ?? claims.scp ?? "";
    return Array.isArray(scope) ? scope : scope.split(" ").filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * A sign-in link (`spindle ui`) carries a one-time code in the fragment (#code=…), which browsers never send to a
 * server. It is removed from the address bar and the history at once, then traded for a token; a used or expired
 * code gets an error. A fragment #token=… (a token made elsewhere) is taken as it is.
 */
export async function takeSignInFromFragment(): Promise<void> {
  const hash = window.location.hash;
  const code = /(?:^#|&)code=([^&]+)/.exec(hash);
  const token = /(?:^#|&)token=([^&]+)/.exec(hash);
  if (!code && !token) return;
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
  if (token) {
    setToken(decodeURIComponent(token[1]));
    return;
  }
  const response = await fetch("/api/v1/ui/sign-in", {
    method: "POST",
    credentials: "omit",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ code: decodeURIComponent(code![1]) }),
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(body?.error?.message ?? `Sign-in link refused (${response.status})`);
  setToken(body.access_token as string);
}
