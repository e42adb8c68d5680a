import { useEffect, useMemo, useState } from "preact/hooks";

import { api, errorMessage } from "../api/client";
import type { AuthConfig, Dataset, Me, Project } from "../api/types";
import { completeLoginIfCallback, logout, scheduleRefresh } from "../auth/oidc";
import { currentToken, getSession, subscribeSession, takeSessionNotice } from "../auth/session";
import { Notice, Toasts } from "../ui/components";
import { useHashRoute, useStore } from "../ui/hooks";
import { getItems, hasActiveUploads, subscribeUploads } from "../upload/manager";
import { FilesView } from "./Files";
import { DeviceApproval } from "./DeviceApproval";
import { Login, Logo } from "./Login";
import { TokensView } from "./Tokens";
import { TrashView } from "./Trash";
import { UploadView } from "./Upload";

export function App() {
  const [config, setConfig] = useState<AuthConfig | null>(null);
  const [bootError, setBootError] = useState("");
  const [notice, setNotice] = useState("");
  const session = useStore(subscribeSession, getSession);

  useEffect(() => {
    (async () => {
      let cfg: AuthConfig;
      try {
        cfg = await api.get<AuthConfig>("/api/auth/config");
      } catch (err) {
        setBootError(`The service cannot be reached: ${errorMessage(err)}`);
        return;
      }
      try {
        await completeLoginIfCallback(cfg);
      } catch (err) {
        setNotice(`Login did not complete: ${errorMessage(err)}`);
      }
      setConfig(cfg);
    })();
  }, []);

  useEffect(() => {
    if (config) scheduleRefresh(config);
    if (!session) {
      const text = takeSessionNotice();
      if (text) setNotice(text);
    }
  }, [config, session]);

  if (bootError) {
    return (
      <main class="login-page">
        <section class="login-card">
          <h1>omicsdm is out of reach</h1>
          <Notice tone="error">{bootError}</Notice>
          <button type="button" class="button" onClick={() => location.reload()}>
            Try again
          </button>
        </section>
      </main>
    );
  }
  if (!config) return <div class="splash" aria-busy="true" />;
  if (!session || !currentToken()) return <Login config={config} notice={notice} />;
  return <Workspace config={config} />;
}

interface Context {
  projectId: string;
  datasetId: string;
}

const CONTEXT_KEY = "omicsdm.context";

function loadContext(): Context {
  try {
    return { projectId: "", datasetId: "", ...(JSON.parse(localStorage.getItem(CONTEXT_KEY) ?? "{}") as Partial<Context>) };
  } catch {
    return { projectId: "", datasetId: "" };
  }
}

function Workspace(props: { config: AuthConfig }) {
  const route = useHashRoute();
  const [me, setMe] = useState<Me | null>(null);
  const [projects, setProjects] = useState<Project[] | null>(null);
  const [datasets, setDatasets] = useState<Dataset[] | null>(null);
  const [context, setContext] = useState<Context>(loadContext);
  const [error, setError] = useState("");
  const uploads = useStore(subscribeUploads, getItems);
  const active = uploads.filter((i) => !["done", "failed", "cancelled"].includes(i.status)).length;

  useEffect(() => {
    api.get<Me>("/api/auth/me").then(setMe, (err) => setError(errorMessage(err)));
    api.get<Project[]>("/api/projects").then(setProjects, (err) => setError(errorMessage(err)));
  }, []);

  useEffect(() => {
    if (!projects) return;
    if (context.projectId && !projects.some((p) => p.id === context.projectId)) {
      setContext({ projectId: projects.length === 1 ? projects[0].id : "", datasetId: "" });
    } else if (!context.projectId && projects.length === 1) {
      setContext({ projectId: projects[0].id, datasetId: "" });
    }
  }, [projects]);

  useEffect(() => {
    setDatasets(null);
    const controller = new AbortController();
    api
      .get<Dataset[]>("/api/datasets", { project_id: context.projectId || undefined }, controller.signal)
      .then(setDatasets, (err) => controller.signal.aborted || setError(errorMessage(err)));
    return () => controller.abort();
  }, [context.projectId]);

  useEffect(() => {
    localStorage.setItem(CONTEXT_KEY, JSON.stringify(context));
  }, [context]);

  useEffect(() => {
    const warn = (event: BeforeUnloadEvent) => {
      if (hasActiveUploads()) event.preventDefault();
    };
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, []);

  const dataset = useMemo(
    () => datasets?.find((d) => d.id === context.datasetId) ?? null,
    [datasets, context.datasetId],
  );
  const project = projects?.find((p) => p.id === context.projectId) ?? null;

  // Upload is offered only where this user may upload: the chosen dataset, or any dataset when none is chosen.
  const canUpload = dataset ? dataset.permissions.upload : Boolean(datasets?.some((d) => d.permissions.upload));
  const tabs: [string, string][] = [
    ["files", "Files"],
    ...(canUpload || active > 0 ? [["upload", "Upload"] as [string, string]] : []),
    // The trash holds the deleted files of the datasets one manages: a reader's is always empty.
    ...(!datasets || datasets.some((d) => d.permissions.manage) ? [["trash", "Trash"] as [string, string]] : []),
  ];
  // Upload and Trash stay reachable by their address: the views then say why they are empty or refused.
  const current = route === "upload" || route === "trash" || tabs.some(([id]) => id === route) ? route : "files";

  // omicsdm login's approval page (#/device?code=…) and the API tokens: by address and from the user menu.
  const page = route === "device" || route === "tokens" ? route : current;

  return (
    <div class="shell">
      <a
        class="skip-link"
        href="#main"
        onClick={(e) => {
          e.preventDefault(); // the hash holds the route
          const main = document.getElementById("main");
          main?.focus();
          main?.scrollIntoView();
        }}
      >
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href="#/files" aria-label="omicsdm home">
          <Logo />
          <span>omicsdm</span>
        </a>
        <div class="context" role="group" aria-label="Project and dataset">
          <label class="select-field">
            <span>Project</span>
            <select
              data-testid="project-select"
              value={context.projectId}
              disabled={!projects}
              onChange={(e) => setContext({ projectId: e.currentTarget.value, datasetId: "" })}
            >
              <option value="">All projects</option>
              {projects?.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.code} — {p.name}
                </option>
              ))}
            </select>
          </label>
          <label class="select-field">
            <span>Dataset</span>
            <select
              data-testid="dataset-select"
              value={dataset ? dataset.id : ""}
              disabled={!datasets}
              onChange={(e) => setContext({ ...context, datasetId: e.currentTarget.value })}
            >
              <option value="">{datasets?.length === 0 ? "No datasets" : "All datasets"}</option>
              {datasets?.map((d) => (
                <option key={d.id} value={d.id}>
                  {context.projectId ? "" : `${d.project_code} / `}
                  {d.code} — {d.name}
                </option>
              ))}
            </select>
          </label>
        </div>
        <div class="user">
          {me && (
            <span class="user-chip" title={`Groups: ${me.groups.join(", ") || "none"}`} data-testid="user-chip">
              <span class="avatar" aria-hidden="true">
                {me.username.slice(0, 1).toUpperCase()}
              </span>
              <span class="user-name">{me.username}</span>
              {me.is_admin && <span class="badge">admin</span>}
            </span>
          )}
          <a href="#/tokens" class="button ghost small" aria-current={page === "tokens" ? "page" : undefined}>
            API tokens
          </a>
          <button type="button" class="button ghost small" onClick={() => logout(props.config)}>
            Log out
          </button>
        </div>
      </header>
      <nav class="tabs" aria-label="Sections">
        {tabs.map(([id, label]) => (
          <a key={id} href={`#/${id}`} class={current === id ? "tab active" : "tab"} aria-current={current === id ? "page" : undefined}>
            {label}
            {id === "upload" && active > 0 && (
              <span class="count" aria-label={`${active} uploads in progress`}>
                {active}
              </span>
            )}
          </a>
        ))}
        <span class="tabs-spacer" />
        {dataset && <DatasetFacts dataset={dataset} />}
      </nav>
      {error && (
        <div class="page-notice">
          <Notice tone="error">{error}</Notice>
        </div>
      )}
      <main class="content" id="main" tabIndex={-1}>
        {page === "files" && (
          <FilesView project={project} dataset={dataset} datasets={datasets ?? []} me={me} canUpload={canUpload} />
        )}
        {page === "upload" && <UploadView dataset={dataset} datasets={datasets} me={me} />}
        {page === "trash" && <TrashView project={project} dataset={dataset} />}
        {page === "device" && <DeviceApproval />}
        {page === "tokens" && <TokensView />}
      </main>
      <Toasts />
    </div>
  );
}

function DatasetFacts(props: { dataset: Dataset }) {
  const d = props.dataset;
  const rights = [d.permissions.download && "download", d.permissions.upload && "upload", d.permissions.manage && "manage"]
    .filter(Boolean)
    .join(", ");
  return (
    <span class="dataset-facts" data-testid="dataset-facts">
      <span title="Owner group">owner {d.owner_group}</span>
      {d.shared_with.length > 0 && <span title="Shared with">shared {d.shared_with.join(", ")}</span>}
      {d.public && <span class="badge">public</span>}
      <span title="What you may do here">you: {rights || "read"}</span>
    </span>
  );
}
