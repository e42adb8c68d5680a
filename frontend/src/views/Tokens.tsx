import { useEffect, useState } from "preact/hooks";

import { api, errorMessage } from "../api/client";
import type { components } from "../api/schema";
import { Empty, Notice, notify } from "../ui/components";
import { when, whenFull } from "../ui/format";

type ApiToken = components["schemas"]["ApiTokenOut"];

function state(token: ApiToken): "active" | "revoked" | "expired" {
  if (token.revoked_at) return "revoked";
  return token.expires_at && new Date(token.expires_at).getTime() <= Date.now() ? "expired" : "active";
}

/** The user's personal API tokens (from `omicsdm login` and `omicsdm token create`), revocable at once. */
export function TokensView() {
  const [tokens, setTokens] = useState<ApiToken[] | null>(null);
  const [error, setError] = useState("");
  const [reload, setReload] = useState(0);
  const [busy, setBusy] = useState<string | null>(null);

  useEffect(() => {
    const controller = new AbortController();
    api
      .get<ApiToken[]>("/api/auth/tokens", undefined, controller.signal)
      .then(setTokens, (err) => controller.signal.aborted || setError(errorMessage(err)));
    return () => controller.abort();
  }, [reload]);

  async function revoke(token: ApiToken) {
    setBusy(token.id);
    try {
      await api.del(`/api/auth/tokens/${token.id}`);
      notify(`${token.name} revoked.`, "success");
      setReload((n) => n + 1);
    } catch (err) {
      notify(errorMessage(err), "error");
    } finally {
      setBusy(null);
    }
  }

  const shown = tokens?.filter((t) => state(t) === "active") ?? [];
  return (
    <div class="tokens-page">
      <div class="panel-head">
        <h1>API tokens</h1>
        <p class="muted">
          Tokens let the command line and scripts act as you. Get one on a machine with <code>omicsdm login --server{" "}
          {location.origin}</code>, or for a script with <code>omicsdm token create --name NAME</code>; both ask for your
          approval here. Revoke a token and it stops working at once.
        </p>
      </div>
      {error && <Notice tone="error">{error}</Notice>}
      {tokens && shown.length === 0 && <Empty title="No active tokens" />}
      {shown.length > 0 && (
        <div class="table-wrap">
          <table class="files" data-testid="tokens-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Starts with</th>
                <th scope="col">Created</th>
                <th scope="col">Expires</th>
                <th scope="col">Last used</th>
                <th scope="col">
                  <span class="sr-only">Revoke</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {shown.map((t) => (
                <tr key={t.id} data-testid="token-row" data-name={t.name}>
                  <td class="name-cell">{t.name}</td>
                  <td>
                    <code>{t.prefix}…</code>
                  </td>
                  <td class="nowrap" title={whenFull(t.created_at)}>
                    {when(t.created_at)}
                  </td>
                  <td class="nowrap">{t.expires_at ? when(t.expires_at) : "never"}</td>
                  <td class="nowrap">{t.last_used_at ? when(t.last_used_at) : "never"}</td>
                  <td>
                    <button
                      type="button"
                      class="button small danger-text"
                      disabled={busy === t.id}
                      onClick={() => revoke(t)}
                      aria-label={`Revoke ${t.name}`}
                    >
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
