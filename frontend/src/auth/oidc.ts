// OIDC authorization code flow with PKCE against Keycloak (a public client, no secret in the browser).
import { sha256 } from "js-sha256";

import type { AuthConfig } from "../api/types";
import { getSession, setSession, type StoredSession } from "./session";

const PENDING = "omicsdm.oidc.pending";
const REFRESH_MARGIN_MS = 60_000;
let refreshTimer: number | undefined;

function endpoint(issuer: string, name: "auth" | "token" | "logout"): string {
  return `${issuer.replace(/\/$/, "")}/protocol/openid-connect/${name}`;
}

function base64url(bytes: Uint8Array): string {
  let text = "";
  bytes.forEach((b) => (text += String.fromCharCode(b)));
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(bytes = 32): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function redirectUri(): string {
  return `${location.origin}${location.pathname}`;
}

/** Sends the browser to the identity provider. js-sha256, not WebCrypto: subtle is missing on plain-http hosts. */
export function startLogin(config: AuthConfig): void {
  if (!config.oidc_issuer) throw new Error("No identity provider is configured.");
  const verifier = randomString(48);
  const state = randomString(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, hash: location.hash }));
  const challenge = base64url(new Uint8Array(sha256.arrayBuffer(verifier)));
  const params = new URLSearchParams({
    response_type: "code",
    client_id: config.oidc_client_id,
    redirect_uri: redirectUri(),
    scope: "openid profile",
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  location.assign(`${endpoint(config.oidc_issuer, "auth")}?${params}`);
}

interface TokenAnswer {
  access_token: string;
  expires_in: number;
  refresh_token?: string;
  refresh_expires_in?: number;
  id_token?: string;
}

function toSession(answer: TokenAnswer, previous?: StoredSession | null): StoredSession {
  const now = Date.now();
  return {
    via: "oidc",
    accessToken: answer.access_token,
    expiresAt: now + answer.expires_in * 1000,
    refreshToken: answer.refresh_token ?? previous?.refreshToken,
    refreshExpiresAt: answer.refresh_expires_in ? now + answer.refresh_expires_in * 1000 : previous?.refreshExpiresAt,
    idToken: answer.id_token ?? previous?.idToken,
  };
}

async function tokenRequest(config: AuthConfig, form: Record<string, string>): Promise<TokenAnswer> {
  const response = await fetch(endpoint(config.oidc_issuer!, "token"), {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: config.oidc_client_id, ...form }),
  });
  const data = (await response.json().catch(() => ({}))) as TokenAnswer & { error_description?: string; error?: string };
  if (!response.ok) throw new Error(data.error_description || data.error || `login failed (${response.status})`);
  return data;
}

/** On return from the identity provider: swap the code for tokens. Returns true when it handled a callback. */
export async function completeLoginIfCallback(config: AuthConfig): Promise<boolean> {
  const params = new URLSearchParams(location.search);
  const code = params.get("code");
  const state = params.get("state");
  const error = params.get("error");
  if (!code && !error) return false;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? "null") as
    | { verifier: string; state: string; hash: string }
    | null;
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, "", `${location.pathname}${pending?.hash ?? ""}`);
  if (error) throw new Error(params.get("error_description") || error);
  if (!pending || pending.state !== state) throw new Error("The login answer did not match this browser tab; log in again.");
  const answer = await tokenRequest(config, {
    grant_type: "authorization_code",
    code: code!,
    redirect_uri: redirectUri(),
    code_verifier: pending.verifier,
  });
  setSession(toSession(answer));
  return true;
}

/** Keeps the access token fresh: refreshes a minute before it expires, for as long as the refresh token lives. */
export function scheduleRefresh(config: AuthConfig): void {
  window.clearTimeout(refreshTimer);
  const session = getSession();
  if (!session || session.via !== "oidc" || !session.refreshToken || !config.oidc_issuer) return;
  const wait = Math.max(0, session.expiresAt - Date.now() - REFRESH_MARGIN_MS);
  refreshTimer = window.setTimeout(async () => {
    const current = getSession();
    if (!current?.refreshToken) return;
    try {
      setSession(toSession(await tokenRequest(config, { grant_type: "refresh_token", refresh_token: current.refreshToken }), current));
      scheduleRefresh(config);
    } catch {
      // The IdP session is over: the next API call gets a 401 and the login screen appears.
      if (current.expiresAt <= Date.now()) setSession(null);
      else refreshTimer = window.setTimeout(() => scheduleRefresh(config), 15_000);
    }
  }, wait);
}

export function logout(config: AuthConfig | null): void {
  window.clearTimeout(refreshTimer);
  const session = getSession();
  setSession(null);
  if (session?.via === "oidc" && config?.oidc_issuer) {
    const params = new URLSearchParams({ client_id: config.oidc_client_id, post_logout_redirect_uri: redirectUri() });
    if (session.idToken) params.set("id_token_hint", session.idToken);
    location.assign(`${endpoint(config.oidc_issuer, "logout")}?${params}`);
  }
}
