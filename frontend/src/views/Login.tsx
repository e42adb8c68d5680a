import { useState } from "preact/hooks";

import { api, errorMessage } from "../api/client";
import type { AccessToken, AuthConfig } from "../api/types";
import { startLogin } from "../auth/oidc";
import { setSession } from "../auth/session";
import { Notice } from "../ui/components";

export function Login(props: { config: AuthConfig; notice: string }) {
  const { config } = props;
  const [username, setUsername] = useState(localStorage.getItem("omicsdm.devUser") ?? "");
  const [groups, setGroups] = useState(localStorage.getItem("omicsdm.devGroups") ?? "");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  async function devLogin(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError("");
    const groupList = groups
      .split(",")
      .map((g) => g.trim())
      .filter(Boolean);
    try {
      const answer = await api.post<AccessToken>("/api/auth/dev-login", { username: username.trim(), groups: groupList });
      localStorage.setItem("omicsdm.devUser", username.trim());
      localStorage.setItem("omicsdm.devGroups", groupList.join(", "));
      setSession({ via: "dev", accessToken: answer.access_token, expiresAt: Date.now() + answer.expires_in * 1000 });
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="login-page">
      <section class="login-card" aria-labelledby="login-title">
        <div class="brand big">
          <Logo />
          <span>omicsdm</span>
        </div>
        <h1 id="login-title">Sign in to the omics file store</h1>
        <p class="muted">Upload sequencing runs and results straight to storage, find them again, share with your groups.</p>
        {props.notice && <Notice tone="warn">{props.notice}</Notice>}
        {config.oidc_issuer && (
          <button type="button" class="button primary block" onClick={() => startLogin(config)}>
            Sign in with your institution account
          </button>
        )}
        {config.dev_mode && (
          <form class="dev-login" onSubmit={devLogin} aria-label="Development login">
            <div class="divider">
              <span>Development login</span>
            </div>
            <label class="field">
              <span>User name</span>
              <input
                name="username"
                autoComplete="username"
                required
                pattern="[A-Za-z0-9][A-Za-z0-9._@\-]*"
                value={username}
                onInput={(e) => setUsername(e.currentTarget.value)}
              />
            </label>
            <label class="field">
              <span>Groups</span>
              <input
                name="groups"
                placeholder="lab-a, admin"
                value={groups}
                onInput={(e) => setGroups(e.currentTarget.value)}
              />
              <small class="muted">Comma-separated. Only for development: the server trusts what you type here.</small>
            </label>
            {error && <Notice tone="error">{error}</Notice>}
            <button type="submit" class="button block" disabled={busy}>
              {busy ? "Signing in…" : "Sign in (dev)"}
            </button>
          </form>
        )}
        {!config.oidc_issuer && !config.dev_mode && (
          <Notice tone="error">No login method is configured on this server. Ask an administrator.</Notice>
        )}
      </section>
    </main>
  );
}

export function Logo() {
  return (
    <svg viewBox="0 0 32 32" width="28" height="28" aria-hidden="true">
      <rect width="32" height="32" rx="7" fill="currentColor" />
      <path
        d="M10 8c6 4 6 12 12 16M22 8c-6 4-6 12-12 16M12 12h8M12 20h8"
        stroke="white"
        stroke-width="2.2"
        fill="none"
        stroke-linecap="round"
      />
    </svg>
  );
}
