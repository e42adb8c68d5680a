// The access token lives in memory and sessionStorage (per tab, gone with the tab); never localStorage.
export interface StoredSession {
  accessToken: string;
  expiresAt: number; // epoch ms
  refreshToken?: string;
  refreshExpiresAt?: number;
  idToken?: string;
  via: "oidc" | "dev";
}

const KEY = "omicsdm.session";
let session: StoredSession | null = load();
const listeners = new Set<() => void>();

function load(): StoredSession | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    const parsed = raw ? (JSON.parse(raw) as StoredSession) : null;
    return parsed && parsed.expiresAt > Date.now() ? parsed : parsed?.refreshToken ? parsed : null;
  } catch {
    return null;
  }
}

export function getSession(): StoredSession | null {
  return session;
}

export function currentToken(): string | null {
  return session && session.expiresAt > Date.now() ? session.accessToken : null;
}

export function setSession(next: StoredSession | null): void {
  session = next;
  if (next) sessionStorage.setItem(KEY, JSON.stringify(next));
  else sessionStorage.removeItem(KEY);
  listeners.forEach((fn) => fn());
}

export function subscribeSession(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** A 401 from the API: the token is no good any more, ask the user to log in again. */
export function onUnauthorized(): void {
  if (session) {
    sessionExpiredNotice = "Your session has ended. Please log in again.";
    setSession(null);
  }
}

export let sessionExpiredNotice = "";
export function takeSessionNotice(): string {
  const text = sessionExpiredNotice;
  sessionExpiredNotice = "";
  return text;
}
