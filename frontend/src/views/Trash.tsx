import { useEffect, useState } from "preact/hooks";

import { api, errorMessage } from "../api/client";
import type { Dataset, FilePage, FileRow, Project } from "../api/types";
import { Empty, Notice, notify } from "../ui/components";
import { bytes, when } from "../ui/format";
import { FileName } from "./Files";

type TrashRow = FileRow;

export function TrashView(props: { project: Project | null; dataset: Dataset | null }) {
  const [rows, setRows] = useState<TrashRow[] | null>(null);
  const [error, setError] = useState("");
  const [reload, setReload] = useState(0);
  const [busy, setBusy] = useState<string | null>(null);

  useEffect(() => {
    const controller = new AbortController();
    api
      .get<FilePage>(
        "/api/trash",
        { dataset_id: props.dataset?.id, project_id: props.dataset ? undefined : props.project?.id, limit: 200 },
        controller.signal,
      )
      .then(
        (answer) => setRows(answer.items),
        (err) => controller.signal.aborted || setError(errorMessage(err)),
      );
    return () => controller.abort();
  }, [props.project?.id, props.dataset?.id, reload]);

  async function restore(row: TrashRow) {
    setBusy(row.id);
    try {
      await api.post(`/api/files/${row.id}/restore`);
      notify(`${row.name} restored.`, "success");
      setReload((n) => n + 1);
    } catch (err) {
      notify(errorMessage(err), "error");
    } finally {
      setBusy(null);
    }
  }

  return (
    <div class="trash-page">
      <div class="panel-head">
        <h1>Trash</h1>
        <p class="muted">
          Files marked deleted. They stay in storage with all their versions but are hidden and cannot be downloaded
          until restored.
        </p>
      </div>
      {error && <Notice tone="error">{error}</Notice>}
      <div class="table-wrap">
        <table class="files" data-testid="trash-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col" class="num">Ver.</th>
              <th scope="col" class="num">Size</th>
              <th scope="col" class="hide-narrow">Dataset</th>
              <th scope="col">Deleted</th>
              <th scope="col">
                <span class="sr-only">Restore</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rows?.map((row) => (
              <tr key={row.id} data-testid="trash-row" data-name={row.name}>
                <td class="name-cell">
                  <FileName name={row.name} />
                </td>
                <td class="num">{row.version}</td>
                <td class="num">{bytes(row.size)}</td>
                <td class="hide-narrow">
                  {row.project_code}/{row.dataset_code}
                </td>
                <td class="nowrap">
                  {when(row.deleted_at ?? null)}
                  {row.deleted_by && <span class="muted small"> by {row.deleted_by}</span>}
                </td>
                <td class="end">
                  <button type="button" class="button small" disabled={busy === row.id} onClick={() => restore(row)} aria-label={`Restore ${row.name}`}>
                    Restore
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {rows && rows.length === 0 && <Empty title="The trash is empty">Files you mark deleted show up here.</Empty>}
      </div>
    </div>
  );
}
