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
 * A sign-in link carries a token in the fragment (#token=…), which browsers never send to a server. It is moved
 * into session storage and removed from the address bar and history at once.
 */
export function takeTokenFromFragment(): boolean {
  const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (!match) return false;
  setToken(decodeURIComponent(match[1]));
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
  return true;
}
