// The folder view of the overview: breadcrumbs over the files' relative paths ("run1/qc/report.html").
// Folders exist only in names, so the view lists the matching files (up to FOLDER_CAP) and groups them here.
import type { ComponentChildren } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";

import { api, errorMessage } from "../api/client";
import type { FilePage, FileRow } from "../api/types";
import { Notice } from "../ui/components";
import { bytes, plural, when } from "../ui/format";
import { NameButton, Submitted } from "./Files";
import { splitFolder } from "./folderTree";

export type Layout = "list" | "folders";

const FOLDER_CAP = 5000;
const PAGE = 1000;

export function FolderView(props: {
  query: Record<string, string | number | undefined>;
  reload: number;
  showDataset: boolean;
  selected: Map<string, FileRow>;
  onToggle: (row: FileRow) => void;
  onOpen: (row: FileRow) => void;
  empty: ComponentChildren;
}) {
  const { query } = props;
  const [path, setPath] = useState<string[]>([]);
  const [rows, setRows] = useState<FileRow[] | null>(null);
  const [capped, setCapped] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState("");
  const here = useRef<HTMLSpanElement>(null);
  const moved = useRef(false);

  // Another project or dataset: back to the top.
  useEffect(() => setPath([]), [query.project_id, query.dataset_id]);

  useEffect(() => {
    const controller = new AbortController();
    // The service filters by substring: the folder's path narrows the listing, its start is checked here.
    const name = (query.name as string | undefined) ?? (path.length ? `${path.join("/")}/` : undefined);
    setLoading(true);
    (async () => {
      const all: FileRow[] = [];
      let cursor: string | undefined;
      do {
        const answer = await api.get<FilePage>(
          "/api/files",
          { ...query, name, limit: PAGE, cursor, include_total: "false" },
          controller.signal,
        );
        all.push(...answer.items);
        cursor = answer.next_cursor ?? undefined;
      } while (cursor && all.length < FOLDER_CAP);
      return { all, more: Boolean(cursor) };
    })().then(
      ({ all, more }) => {
        setRows(all);
        setCapped(more);
        setError("");
        setLoading(false);
      },
      (err) => {
        if (controller.signal.aborted) return;
        setError(errorMessage(err));
        setLoading(false);
      },
    );
    return () => controller.abort();
  }, [query, path, props.reload]);

  // After a move by the user, focus lands on the folder's name in the breadcrumbs (the clicked row is gone).
  useEffect(() => {
    if (moved.current) {
      moved.current = false;
      here.current?.focus();
    }
  }, [path]);

  const { folders, files } = useMemo(() => splitFolder(rows ?? [], path), [rows, path]);

  function go(next: string[]) {
    moved.current = true;
    setPath(next);
  }

  // Up and Down move between the names; Backspace or Alt+Up goes to the parent folder.
  function onKeyDown(event: KeyboardEvent) {
    const target = event.target as HTMLElement;
    if (target.tagName === "INPUT") return;
    if (path.length && (event.key === "Backspace" || (event.key === "ArrowUp" && event.altKey))) {
      event.preventDefault();
      go(path.slice(0, -1));
      return;
    }
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const names = [...(event.currentTarget as HTMLElement).querySelectorAll<HTMLElement>(".name-button")];
    const at = names.indexOf(target);
    if (at < 0) return;
    event.preventDefault();
    names[Math.max(0, Math.min(names.length - 1, at + (event.key === "ArrowDown" ? 1 : -1)))]?.focus();
  }

  const cols = props.showDataset ? 6 : 5;
  return (
    <div class="folder-view" data-testid="folder-view" onKeyDown={onKeyDown}>
      <nav class="breadcrumbs" aria-label="Folder">
        <ol>
          <li>
            {path.length ? (
              <button type="button" class="linklike" onClick={() => go([])}>
                All files
              </button>
            ) : (
              <span ref={here} tabIndex={-1} aria-current="location">
                All files
              </span>
            )}
          </li>
          {path.map((segment, i) => (
            <li key={i}>
              {i < path.length - 1 ? (
                <button type="button" class="linklike" onClick={() => go(path.slice(0, i + 1))}>
                  {segment}
                </button>
              ) : (
                <span ref={here} tabIndex={-1} aria-current="location" data-testid="folder-current">
                  {segment}
                </span>
              )}
            </li>
          ))}
        </ol>
      </nav>
      {error && <Notice tone="error">{error}</Notice>}
      {capped && (
        <Notice tone="info">
          Showing the folders of the first {FOLDER_CAP.toLocaleString()} files that match: narrow them with the filters.
        </Notice>
      )}
      <div class={`table-wrap ${loading ? "loading" : ""}`} aria-busy={loading}>
        <div class="loading-bar" aria-hidden="true" />
        <table class="files" data-testid="folder-table">
          <caption class="sr-only">
            {path.length ? `Folder ${path.join("/")}` : "Top folder"}: {plural(folders.length, "folder")},{" "}
            {plural(files.length, "file")}
          </caption>
          <thead>
            <tr>
              <th scope="col" class="c-check">
                <span class="sr-only">Select</span>
              </th>
              <th scope="col" class="c-name">
                Name
              </th>
              <th scope="col" class="num c-version hide-narrow">
                Ver.
              </th>
              <th scope="col" class="num c-size">
                Size
              </th>
              {props.showDataset && (
                <th scope="col" class="c-dataset hide-narrow">
                  Dataset
                </th>
              )}
              <th scope="col" class="c-at hide-narrow">
                Submitted
              </th>
            </tr>
          </thead>
          <tbody>
            {path.length > 0 && (
              <tr class="folder-row">
                <td />
                <td class="name-cell" colSpan={cols - 1}>
                  <button type="button" class="link name-button" onClick={() => go(path.slice(0, -1))} data-testid="folder-up">
                    <span class="folder-icon" aria-hidden="true">↰</span> Up to {path.length > 1 ? path[path.length - 2] : "all files"}
                  </button>
                </td>
              </tr>
            )}
            {folders.map((f) => (
              <tr key={`d:${f.name}`} class="folder-row" data-testid="folder-row" data-name={f.name}>
                <td />
                <td class="name-cell">
                  <button
                    type="button"
                    class="link name-button"
                    title={f.name}
                    onClick={() => go([...path, f.name])}
                    aria-label={`Folder ${f.name}, ${plural(f.files, "file")}`}
                  >
                    <span class="folder-icon" aria-hidden="true" />
                    <span class="file-name">{f.name}/</span>
                  </button>
                  <span class="only-narrow muted small">
                    {plural(f.files, "file")} · {when(f.latest)}
                  </span>
                </td>
                <td class="num hide-narrow muted">{plural(f.files, "file")}</td>
                <td class="num">{bytes(f.size)}</td>
                {props.showDataset && <td class="hide-narrow" />}
                <td class="hide-narrow when-cell">
                  <Submitted iso={f.latest} />
                </td>
              </tr>
            ))}
            {files.map((row) => (
              <tr key={row.id} class={props.selected.has(row.id) ? "selected" : ""} data-testid="file-row" data-name={row.name}>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`Select ${row.name}`}
                    checked={props.selected.has(row.id)}
                    onChange={() => props.onToggle(row)}
                  />
                </td>
                <td class="name-cell">
                  <NameButton name={row.name.slice(row.name.lastIndexOf("/") + 1)} label={row.name} onOpen={() => props.onOpen(row)} />
                  <span class="only-narrow muted small">
                    v{row.version} · {when(row.submitted_at)}
                  </span>
                </td>
                <td class="num hide-narrow">{row.version}</td>
                <td class="num">{bytes(row.size)}</td>
                {props.showDataset && (
                  <td class="hide-narrow truncate" title={`${row.project_code}/${row.dataset_code}`}>
                    {row.project_code}/{row.dataset_code}
                  </td>
                )}
                <td class="hide-narrow when-cell">
                  <Submitted iso={row.submitted_at} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {rows && rows.length === 0 && !loading && props.empty}
      </div>
    </div>
  );
}
