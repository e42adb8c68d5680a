import { useEffect, useState } from "preact/hooks";

import { api, errorMessage } from "../api/client";
import type { components } from "../api/schema";
import { Notice } from "../ui/components";
import { whenFull } from "../ui/format";

type DeviceRequest = components["schemas"]["DeviceRequestOut"];

/** The code in the address (#/device?code=BDWP-HQRT), as `omicsdm login` opens it. */
function codeInAddress(): string {
  const query = location.hash.split("?")[1] ?? "";
  return new URLSearchParams(query).get("code") ?? "";
}

/**
 * `omicsdm login` on another machine asks for a personal API token: show which machine asks (host name,
 * program, address, time) and let the logged-in user approve or deny it.
 */
export function DeviceApproval() {
  const [code, setCode] = useState(codeInAddress);
  const [typed, setTyped] = useState(codeInAddress);
  const [request, setRequest] = useState<DeviceRequest | null>(null);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const onChange = () => {
      setCode(codeInAddress());
      setTyped(codeInAddress());
    };
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);

  useEffect(() => {
    setRequest(null);
    setError("");
    if (!code) return;
    const controller = new AbortController();
    api
      .get<DeviceRequest>(`/api/device/requests/${encodeURIComponent(code)}`, undefined, controller.signal)
      .then(setRequest, (err) => controller.signal.aborted || setError(errorMessage(err)));
    return () => controller.abort();
  }, [code]);

  async function decide(verdict: "approve" | "deny") {
    setBusy(true);
    try {
      setRequest(await api.post<DeviceRequest>(`/api/device/requests/${encodeURIComponent(code)}/${verdict}`));
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="device-page" data-testid="device-approval">
      <div class="panel-head">
        <h1>Log in a command line</h1>
        <p class="muted">
          <code>omicsdm login</code> on another machine shows a code and this page. Approve only a request you started
          yourself: the machine gets a personal API token that acts as you.
        </p>
      </div>
      <form
        class="device-code-form"
        onSubmit={(e) => {
          e.preventDefault();
          setCode(typed.trim());
        }}
      >
        <label class="select-field">
          <span>Code shown by the command</span>
          <input
            value={typed}
            onInput={(e) => setTyped(e.currentTarget.value)}
            placeholder="BDWP-HQRT"
            autoComplete="off"
            spellcheck={false}
            data-testid="device-code"
          />
        </label>
        <button type="submit" class="button small">
          Look up
        </button>
      </form>
      {error && <Notice tone="error">{error}</Notice>}
      {request && (
        <section class="device-request" aria-label="The machine asking">
          <dl class="facts" data-testid="device-request">
            <dt>Code</dt>
            <dd>
              <strong>{request.user_code}</strong>
            </dd>
            <dt>Machine</dt>
            <dd data-testid="device-hostname">{request.hostname}</dd>
            <dt>Program</dt>
            <dd>{request.client_name}</dd>
            <dt>From address</dt>
            <dd>{request.client_ip ?? "unknown"}</dd>
            <dt>Asked</dt>
            <dd>{whenFull(request.requested_at)}</dd>
            <dt>Token</dt>
            <dd>
              {request.token_name},{" "}
              {request.token_expires_in_days ? `valid ${request.token_expires_in_days} days` : "never expires"}
            </dd>
          </dl>
          {request.state === "pending" ? (
            <div class="row-actions">
              <button
                type="button"
                class="button primary"
                disabled={busy}
                onClick={() => decide("approve")}
                data-testid="device-approve"
              >
                Approve
              </button>
              <button type="button" class="button danger" disabled={busy} onClick={() => decide("deny")} data-testid="device-deny">
                Deny
              </button>
            </div>
          ) : (
            <Notice tone={request.state === "denied" ? "warn" : "success"} testId="device-result">
              {request.state === "denied"
                ? "Denied: the command gets no token."
                : "Approved: the command receives its token now; you can return to the terminal."}
            </Notice>
          )}
        </section>
      )}
    </div>
  );
}
