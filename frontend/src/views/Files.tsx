import { useEffect, useMemo, useState } from "preact/hooks";

import { api, errorMessage } from "../api/client";
import type { Dataset, DownloadLink, FilePage, FileRow, Me, Project } from "../api/types";
import { Dialog, Empty, Notice, notify } from "../ui/components";
import { bytes, plural, when, whenFull } from "../ui/format";
import { useDebounced } from "../ui/hooks";
import { filesFromDrop } from "../upload/dropped";
import { addFiles, onUploadCompleted } from "../upload/manager";
import { downloadLinks, manifestTsv, saveText, startDownload, wgetScript } from "./downloads";
import { FileDrawer } from "./FileDrawer";
import { FolderView, type Layout } from "./Folders";

interface Filters {
  name: string;
  extension: string;
  submitter: string;
  after: string;
  before: string;
}

const EMPTY_FILTERS: Filters = { name: "", extension: "", submitter: "", after: "", before: "" };
const PAGE_SIZES = [25, 50, 100];

type SortKey = "name" | "version" | "size" | "submitter" | "submitted_at" | "dataset" | "comment";

const LAYOUT_KEY = "omicsdm.filesLayout";

export function FilesView(props: {
  project: Project | null;
  dataset: Dataset | null;
  datasets: Dataset[];
  me: Me | null;
  canUpload: boolean;
}) {
  const { project, dataset } = props;
  const [filters, setFilters] = useState<Filters>(EMPTY_FILTERS);
  const [filtersOpen, setFiltersOpen] = useState(false);
  const [layout, setLayoutState] = useState<Layout>(() => (localStorage.getItem(LAYOUT_KEY) === "folders" ? "folders" : "list"));
  const [dragging, setDragging] = useState(0);
  const debounced = useDebounced(filters, 300);
  const [sort, setSort] = useState("-submitted_at");
  const [limit, setLimit] = useState(50);
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [page, setPage] = useState<FilePage | null>(null);
  const [total, setTotal] = useState<number | null>(null); // counted on the first page only
  const [totalCapped, setTotalCapped] = useState(false); // the service stops counting at 10,000
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState("");
  const [reload, setReload] = useState(0);
  const [selected, setSelected] = useState<Map<string, FileRow>>(new Map());
  const [detail, setDetail] = useState<FileRow | null>(null);
  const [links, setLinks] = useState<DownloadLink[] | null>(null);
  const [confirmDelete, setConfirmDelete] = useState<FileRow[] | null>(null);
  const pageIndex = cursors.length - 1;

  const query = useMemo(
    () => ({
      project_id: dataset ? undefined : project?.id,
      dataset_id: dataset?.id,
      name: debounced.name.trim() || undefined,
      extension: debounced.extension.trim().replace(/^\./, "") || undefined,
      submitter: debounced.submitter.trim() || undefined,
      submitted_after: debounced.after ? new Date(`${debounced.after}T00:00:00`).toISOString() : undefined,
      submitted_before: debounced.before ? new Date(`${debounced.before}T23:59:59.999`).toISOString() : undefined,
      sort,
      limit,
    }),
    [project?.id, dataset?.id, debounced, sort, limit],
  );

  // A new query starts again at page one.
  useEffect(() => {
    setCursors((current) => (current.length === 1 && current[0] === null ? current : [null]));
    setSelected((current) => (current.size === 0 ? current : new Map()));
  }, [query]);

  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    api
      .get<FilePage>("/api/files", { ...query, cursor: cursors[pageIndex] ?? undefined }, controller.signal)
      .then(
        (answer) => {
          setPage(answer);
          if (answer.total !== null && answer.total !== undefined) {
            setTotal(answer.total);
            setTotalCapped(answer.total_capped ?? false);
          }
          setError("");
        },
        (err) => {
          if (!controller.signal.aborted) setError(errorMessage(err));
        },
      )
      .finally(() => controller.signal.aborted || setLoading(false));
    return () => controller.abort();
  }, [query, cursors, reload]);

  useEffect(() => onUploadCompleted(() => setReload((n) => n + 1)), []);

  function setLayout(next: Layout) {
    localStorage.setItem(LAYOUT_KEY, next);
    setLayoutState(next);
  }

  const byId = useMemo(() => new Map(props.datasets.map((d) => [d.id, d])), [props.datasets]);
  const mayManage = (row: FileRow) => Boolean(byId.get(row.dataset_id)?.permissions.manage);
  // Offered only where this user may mark files deleted (the service checks again).
  const deleteOffered = dataset ? dataset.permissions.manage : props.datasets.some((d) => d.permissions.manage);
  const notMine = [...selected.values()].filter((r) => !mayManage(r)).length;
  const mayDownload = (row: FileRow) => byId.get(row.dataset_id)?.permissions.download ?? true;
  const downloadOffered = dataset ? dataset.permissions.download : props.datasets.length === 0 || props.datasets.some((d) => d.permissions.download);
  const notDownloadable = [...selected.values()].filter((r) => !mayDownload(r)).length;
  const uploadTarget = dataset && dataset.permissions.upload ? dataset : null;

  async function onDrop(event: DragEvent) {
    event.preventDefault();
    setDragging(0);
    if (!event.dataTransfer) return;
    if (!uploadTarget) {
      notify(
        dataset
          ? `You may not upload to ${dataset.project_code}/${dataset.code}.`
          : "Choose a dataset above first, then drop the files again.",
        "error",
      );
      return;
    }
    const files = await filesFromDrop(event.dataTransfer);
    if (files.length === 0) return;
    addFiles(files, { id: uploadTarget.id, label: `${uploadTarget.project_code}/${uploadTarget.code}` });
    notify(`${plural(files.length, "file")} added to the queue for ${uploadTarget.project_code}/${uploadTarget.code}.`);
    location.hash = "#/upload";
  }

  const carriesFiles = (event: DragEvent) => Boolean(event.dataTransfer?.types.includes("Files"));

  const rows = page?.items ?? [];
  const allOnPage = rows.length > 0 && rows.every((r) => selected.has(r.id));
  const from = pageIndex * limit + (rows.length ? 1 : 0);
  const to = pageIndex * limit + rows.length;

  function toggle(row: FileRow) {
    const next = new Map(selected);
    if (next.has(row.id)) next.delete(row.id);
    else next.set(row.id, row);
    setSelected(next);
  }

  function toggleAll() {
    const next = new Map(selected);
    rows.forEach((r) => (allOnPage ? next.delete(r.id) : next.set(r.id, r)));
    setSelected(next);
  }

  function sortBy(key: SortKey) {
    setSort(sort === key ? `-${key}` : sort === `-${key}` ? key : key === "submitted_at" || key === "size" || key === "version" ? `-${key}` : key);
  }

  async function prepareDownload(items: FileRow[]) {
    try {
      setLinks(await downloadLinks(items.map((r) => ({ file_id: r.id, version: r.version }))));
    } catch (err) {
      notify(errorMessage(err), "error");
    }
  }

  async function markDeleted(items: FileRow[]) {
    setConfirmDelete(null);
    const failures: string[] = [];
    for (const row of items) {
      try {
        await api.post(`/api/files/${row.id}/delete`);
      } catch (err) {
        failures.push(`${row.name}: ${errorMessage(err)}`);
      }
    }
    const done = items.length - failures.length;
    if (done) notify(`${plural(done, "file")} moved to the trash. Restore them from Trash if this was a mistake.`, "success");
    failures.forEach((f) => notify(f, "error"));
    setSelected(new Map());
    setDetail(null);
    setReload((n) => n + 1);
  }

  const filtersActive = Object.values(filters).some(Boolean);
  const scope = dataset ? `${dataset.project_code}/${dataset.code}` : project ? `project ${project.code}` : "all projects";

  const activeFilters = Object.values(filters).filter(Boolean).length;
  const showDataset = !dataset;

  return (
    <div
      class={`files-page ${dragging > 0 ? "drag-over" : ""}`}
      data-testid="files-page"
      onDragEnter={(e) => carriesFiles(e) && setDragging((n) => n + 1)}
      onDragLeave={(e) => carriesFiles(e) && setDragging((n) => Math.max(0, n - 1))}
      onDragOver={(e) => {
        if (!carriesFiles(e)) return;
        e.preventDefault();
        if (e.dataTransfer) e.dataTransfer.dropEffect = uploadTarget ? "copy" : "none";
      }}
      onDrop={onDrop}
    >
      {dragging > 0 && (
        <div class="drop-overlay" aria-hidden="true">
          <strong>
            {uploadTarget
              ? `Drop files or folders to upload them into ${uploadTarget.project_code}/${uploadTarget.code}`
              : dataset
                ? "You may not upload to this dataset"
                : "Choose a dataset first to upload into it"}
          </strong>
        </div>
      )}
      <div class="files-head">
        <h1>
          Files <span class="muted scope">in {scope}</span>
        </h1>
        <div class="row">
          <div class="segmented" role="group" aria-label="Show files as">
            <button type="button" aria-pressed={layout === "list"} data-testid="layout-list" onClick={() => setLayout("list")}>
              List
            </button>
            <button type="button" aria-pressed={layout === "folders"} data-testid="layout-folders" onClick={() => setLayout("folders")}>
              Folders
            </button>
          </div>
          <button
            type="button"
            class="button small filters-toggle"
            aria-expanded={filtersOpen}
            aria-controls="file-filters"
            data-testid="filters-toggle"
            onClick={() => setFiltersOpen(!filtersOpen)}
          >
            Filters{activeFilters ? ` (${activeFilters})` : ""}
          </button>
        </div>
      </div>
      <div class={`toolbar ${filtersOpen ? "open" : ""}`} id="file-filters" role="search" aria-label="Filter files">
        <label class="field grow">
          <span>Name contains</span>
          <input
            type="search"
            data-testid="filter-name"
            value={filters.name}
            placeholder="Search names…"
            onInput={(e) => setFilters({ ...filters, name: e.currentTarget.value })}
          />
        </label>
        <label class="field narrow">
          <span>Type</span>
          <input
            value={filters.extension}
            placeholder="e.g. fastq.gz"
            onInput={(e) => setFilters({ ...filters, extension: e.currentTarget.value })}
          />
        </label>
        <label class="field narrow">
          <span>Submitted by</span>
          <input value={filters.submitter} onInput={(e) => setFilters({ ...filters, submitter: e.currentTarget.value })} />
        </label>
        <label class="field date">
          <span>From</span>
          <input type="date" value={filters.after} onInput={(e) => setFilters({ ...filters, after: e.currentTarget.value })} />
        </label>
        <label class="field date">
          <span>To</span>
          <input type="date" value={filters.before} onInput={(e) => setFilters({ ...filters, before: e.currentTarget.value })} />
        </label>
        <button type="button" class="button ghost small" disabled={!filtersActive} onClick={() => setFilters(EMPTY_FILTERS)}>
          Reset
        </button>
      </div>

      <div class="selection-bar" aria-live="polite">
        <span class="muted">
          {selected.size > 0 ? (
            <>
              <strong>{plural(selected.size, "file")}</strong> selected
            </>
          ) : (
            <>
              {total !== null ? `${totalCapped ? "more than " : ""}${plural(total, "file")}` : "…"} in {scope}
            </>
          )}
        </span>
        <span class="row">
          {downloadOffered && (
            <button
              type="button"
              class="button small primary"
              disabled={selected.size === 0 || notDownloadable > 0}
              title={notDownloadable > 0 ? `You may not download ${plural(notDownloadable, "of the selected files", "of the selected files")}` : undefined}
              data-testid="download-selected"
              onClick={() => prepareDownload([...selected.values()])}
            >
              Download…
            </button>
          )}
          {deleteOffered && (
            <button
              type="button"
              class="button small danger"
              disabled={selected.size === 0 || notMine > 0}
              title={notMine > 0 ? `You may not delete ${plural(notMine, "of the selected files", "of the selected files")}` : undefined}
              data-testid="delete-selected"
              onClick={() => setConfirmDelete([...selected.values()])}
            >
              Mark deleted…
            </button>
          )}
          {selected.size > 0 && (
            <button type="button" class="button small ghost" onClick={() => setSelected(new Map())}>
              Clear selection
            </button>
          )}
        </span>
      </div>

      {error && <Notice tone="error">{error}</Notice>}

      {layout === "folders" ? (
        <FolderView
          query={query}
          reload={reload}
          showDataset={showDataset}
          selected={selected}
          onToggle={toggle}
          onOpen={setDetail}
          empty={<EmptyOverview filtered={filtersActive} canUpload={props.canUpload} />}
        />
      ) : (
      <>
      <div class={`table-wrap ${loading ? "loading" : ""}`} aria-busy={loading}>
        <div class="loading-bar" aria-hidden="true" />
        <table class="files" data-testid="files-table">
          <thead>
            <tr>
              <th scope="col" class="c-check">
                <input type="checkbox" aria-label="Select all on this page" checked={allOnPage} onChange={toggleAll} disabled={!rows.length} />
              </th>
              <SortHeader label="Name" k="name" sort={sort} onSort={sortBy} cls="c-name" />
              <SortHeader label="Ver." k="version" sort={sort} onSort={sortBy} numeric narrowHide cls="c-version" />
              <SortHeader label="Size" k="size" sort={sort} onSort={sortBy} numeric cls="c-size" />
              {showDataset && <SortHeader label="Dataset" k="dataset" sort={sort} onSort={sortBy} narrowHide cls="c-dataset" />}
              <SortHeader label="Submitted by" k="submitter" sort={sort} onSort={sortBy} narrowHide cls="c-by" />
              <SortHeader label="Submitted" k="submitted_at" sort={sort} onSort={sortBy} narrowHide cls="c-at" />
              <SortHeader label="Comment" k="comment" sort={sort} onSort={sortBy} narrowHide cls="c-comment" />
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.id} class={selected.has(row.id) ? "selected" : ""} data-testid="file-row" data-name={row.name}>
                <td>
                  <input type="checkbox" aria-label={`Select ${row.name}`} checked={selected.has(row.id)} onChange={() => toggle(row)} />
                </td>
                <td class="name-cell">
                  <NameButton name={row.name} onOpen={() => setDetail(row)} />
                  <span class="only-narrow muted small">
                    v{row.version} · {when(row.submitted_at)}
                  </span>
                </td>
                <td class="num hide-narrow">{row.version}</td>
                <td class="num">{bytes(row.size)}</td>
                {showDataset && (
                  <td class="hide-narrow truncate" title={`${row.project_code}/${row.dataset_code}`}>
                    {row.project_code}/{row.dataset_code}
                  </td>
                )}
                <td class="hide-narrow truncate" title={row.submitted_by ?? undefined}>
                  {row.submitted_by ?? "–"}
                </td>
                <td class="hide-narrow when-cell">
                  <Submitted iso={row.submitted_at} />
                </td>
                <td class="hide-narrow truncate muted" title={row.comment ?? ""}>
                  {row.comment}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {page && rows.length === 0 && !loading && <EmptyOverview filtered={filtersActive} canUpload={props.canUpload} />}
      </div>

      <div class="pager">
        <label class="select-field small">
          <span>Rows</span>
          <select value={String(limit)} onChange={(e) => setLimit(Number(e.currentTarget.value))}>
            {PAGE_SIZES.map((n) => (
              <option key={n} value={String(n)}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <span class="muted tabular" data-testid="pager-range">
          {page ? (rows.length ? `${from}–${to}${total !== null ? ` of ${totalCapped ? "more than " : ""}${total.toLocaleString()}` : ""}` : "0 files") : ""}
        </span>
        <button type="button" class="button small" disabled={pageIndex === 0 || loading} onClick={() => setCursors(cursors.slice(0, -1))}>
          ‹ Previous
        </button>
        <button
          type="button"
          class="button small"
          disabled={!page?.next_cursor || loading}
          onClick={() => page?.next_cursor && setCursors([...cursors, page.next_cursor])}
        >
          Next ›
        </button>
      </div>
      </>
      )}

      {detail && (
        <FileDrawer
          row={detail}
          dataset={props.datasets.find((d) => d.id === detail.dataset_id) ?? null}
          onClose={() => setDetail(null)}
          onChanged={() => setReload((n) => n + 1)}
          onDelete={(row) => setConfirmDelete([row])}
          onDownload={(version) => prepareDownload([{ ...detail, version }])}
        />
      )}

      <DownloadDialog links={links} onClose={() => setLinks(null)} />

      <Dialog
        open={confirmDelete !== null}
        title={`Mark ${plural(confirmDelete?.length ?? 0, "file")} deleted?`}
        onClose={() => setConfirmDelete(null)}
        testId="confirm-delete"
        footer={
          <>
            <button type="button" class="button" onClick={() => setConfirmDelete(null)}>
              Keep
            </button>
            <button type="button" class="button danger" data-testid="confirm-delete-button" onClick={() => confirmDelete && markDeleted(confirmDelete)}>
              Mark deleted
            </button>
          </>
        }
      >
        <p>
          The files leave the overview and can no longer be downloaded. Nothing is removed from storage: every
          version stays, and the files can be restored from <strong>Trash</strong>.
        </p>
        <ul class="name-list">
          {confirmDelete?.slice(0, 12).map((r) => (
            <li key={r.id}>
              <FileName name={r.name} />
            </li>
          ))}
          {(confirmDelete?.length ?? 0) > 12 && <li class="muted">and {confirmDelete!.length - 12} more</li>}
        </ul>
      </Dialog>
    </div>
  );
}

function EmptyOverview(props: { filtered: boolean; canUpload: boolean }) {
  if (props.filtered) return <Empty title="No file matches these filters">Loosen the filters above.</Empty>;
  return (
    <Empty title="No files here yet">
      {props.canUpload ? (
        <>
          Drop files or folders here, or
          <span class="empty-action">
            <button type="button" class="button primary" data-testid="empty-upload" onClick={() => (location.hash = "#/upload")}>
              Upload files
            </button>
          </span>
        </>
      ) : (
        "Files that members of this dataset's groups upload show up here."
      )}
    </Empty>
  );
}

/** The full name on hover (title) and on keyboard focus (the cell unfolds); an ellipsis otherwise. */
export function NameButton(props: { name: string; onOpen: () => void; label?: string }) {
  return (
    <button type="button" class="link name-button" onClick={props.onOpen} title={props.name} aria-label={props.label}>
      <FileName name={props.name} />
    </button>
  );
}

export function Submitted(props: { iso: string | null | undefined }) {
  return (
    <time dateTime={props.iso ?? undefined} title={props.iso ? whenFull(props.iso) : undefined}>
      {when(props.iso)}
    </time>
  );
}

function SortHeader(props: {
  label: string;
  k: SortKey;
  sort: string;
  onSort: (k: SortKey) => void;
  numeric?: boolean;
  narrowHide?: boolean;
  cls?: string;
}) {
  const dir = props.sort === props.k ? "ascending" : props.sort === `-${props.k}` ? "descending" : "none";
  return (
    <th scope="col" aria-sort={dir} class={`${props.cls ?? ""} ${props.numeric ? "num" : ""} ${props.narrowHide ? "hide-narrow" : ""}`}>
      <button type="button" class="sort" onClick={() => props.onSort(props.k)}>
        {props.label}
        <span class={`sort-icon ${dir}`} aria-hidden="true" />
      </button>
    </th>
  );
}

export function FileName(props: { name: string }) {
  const slash = props.name.lastIndexOf("/");
  return (
    <span class="file-name">
      {slash >= 0 && <span class="muted">{props.name.slice(0, slash + 1)}</span>}
      {props.name.slice(slash + 1)}
    </span>
  );
}

export function DownloadDialog(props: { links: DownloadLink[] | null; onClose: () => void }) {
  const links = props.links ?? [];
  const total = links.reduce((n, l) => n + l.size, 0);
  const expires = links.length ? when(links.map((l) => l.expires_at).sort()[0]) : "";
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
  return (
    <Dialog
      open={props.links !== null}
      title={`Download ${plural(links.length, "file")} (${bytes(total)})`}
      onClose={props.onClose}
      wide
      testId="download-dialog"
      footer={
        <>
          <button type="button" class="button" onClick={() =>
              manifestTsv(links).then(
                (text) => saveText(`omicsdm-manifest-${stamp}.tsv`, text, "text/tab-separated-values"),
                (err: unknown) => notify(errorMessage(err), "error"),
              )
            }>
            Save manifest (TSV)
          </button>
          <button type="button" class="button" onClick={() => saveText(`omicsdm-download-${stamp}.sh`, wgetScript(links), "text/x-shellscript")}>
            Save curl script
          </button>
          <button
            type="button"
            class="button primary"
            onClick={() => links.forEach((l, i) => window.setTimeout(() => startDownload(l), i * 400))}
          >
            Download all
          </button>
        </>
      }
    >
      <p class="muted">Links are personal and expire {expires ? `at ${expires}` : "soon"}. The manifest lists names, sizes, checksums and links for scripts.</p>
      <ul class="link-list" data-testid="download-links">
        {links.map((l) => (
          <li key={`${l.file_id}-${l.version}`}>
            <a href={l.link} download={l.name.split("/").pop()} rel="noopener" data-testid="download-link" data-name={l.name} data-version={l.version}>
              <FileName name={l.name} />
            </a>
            <span class="muted tabular">
              v{l.version} · {bytes(l.size)}
            </span>
          </li>
        ))}
      </ul>
    </Dialog>
  );
}
