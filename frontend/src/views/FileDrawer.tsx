import { useEffect, useState } from "preact/hooks";

import { api, errorMessage } from "../api/client";
import type { Dataset, FileDetail, FileRow } from "../api/types";
import { Dialog, Notice, notify } from "../ui/components";
import { bytes, when } from "../ui/format";
import { Submitted } from "./Files";
import { viewable } from "./genomeFiles";
import { GenomeViewer } from "./GenomeViewer";

/** Workflow engines and DRS clients take the version's drs:// URI (GA4GH DRS, docs/api.md). */
async function copyDrs(uri: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(uri);
    notify("DRS URI copied.", "success");
  } catch {
    notify(`Copy it by hand: ${uri}`, "info");
  }
}

export function FileDrawer(props: {
  row: FileRow;
  dataset: Dataset | null;
  onClose: () => void;
  onChanged: () => void;
  onDelete: (row: FileRow) => void;
  onDownload: (version: number) => void;
}) {
  const { row } = props;
  const [detail, setDetail] = useState<FileDetail | null>(null);
  const [error, setError] = useState("");
  const [comment, setComment] = useState(row.comment ?? "");
  const [saving, setSaving] = useState(false);
  const [viewing, setViewing] = useState(false);

  useEffect(() => {
    api.get<FileDetail>(`/api/files/${row.id}`).then(
      (answer) => {
        setDetail(answer);
        setComment(answer.comment ?? "");
      },
      (err) => setError(errorMessage(err)),
    );
  }, [row.id]);

  async function saveComment(event: Event) {
    event.preventDefault();
    setSaving(true);
    try {
      const answer = await api.patch<FileDetail>(`/api/files/${row.id}`, { comment });
      setDetail(answer);
      notify("Comment saved.", "success");
      props.onChanged();
    } catch (err) {
      notify(errorMessage(err), "error");
    } finally {
      setSaving(false);
    }
  }

  const versions = [...(detail?.versions ?? [])].sort((a, b) => b.version - a.version);
  const canManage = detail ? detail.permissions.manage : Boolean(props.dataset?.permissions.manage);
  const canDownload = detail ? detail.permissions.download : (props.dataset?.permissions.download ?? true);
  const dirty = comment !== (detail?.comment ?? row.comment ?? "");

  return (
    <Dialog open title={row.name.split("/").pop() ?? row.name} onClose={props.onClose} drawer testId="file-detail">
      <dl class="facts">
        <dt>Path</dt>
        <dd class="break">{row.name}</dd>
        <dt>Dataset</dt>
        <dd>
          {row.project_code}/{row.dataset_code}
        </dd>
        <dt>Latest</dt>
        <dd>
          version {row.version} · {bytes(row.size)} · {when(row.submitted_at)} by {row.submitted_by ?? "–"}
        </dd>
      </dl>
      {viewable(row.name) && canDownload && (
        <div class="row">
          <button type="button" class="button small" data-testid="view-genome" onClick={() => setViewing(true)}>
            View
          </button>
          <span class="muted small">in the genome browser</span>
        </div>
      )}
      {viewing && <GenomeViewer row={row} onClose={() => setViewing(false)} />}

      {canManage ? (
        <form class="comment-form" onSubmit={saveComment}>
          <label class="field">
            <span>Comment</span>
            <textarea
              rows={3}
              maxLength={10000}
              value={comment}
              data-testid="comment-input"
              onInput={(e) => setComment(e.currentTarget.value)}
            />
          </label>
          <div class="row end">
            <button type="submit" class="button small primary" disabled={!dirty || saving} data-testid="comment-save">
              {saving ? "Saving…" : "Save comment"}
            </button>
          </div>
        </form>
      ) : (
        <dl class="facts">
          <dt>Comment</dt>
          <dd class="break" data-testid="comment-text">
            {detail?.comment || row.comment || <span class="muted">none</span>}
          </dd>
        </dl>
      )}

      <h3>Version history</h3>
      {error && <Notice tone="error">{error}</Notice>}
      <table class="versions" data-testid="versions">
        <thead>
          <tr>
            <th scope="col" class="num">Ver.</th>
            <th scope="col" class="num">Size</th>
            <th scope="col">Submitted</th>
            <th scope="col">SHA-256</th>
            <th scope="col">
              <span class="sr-only">Download</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {detail === null && !error && (
            <tr>
              <td colSpan={5} class="muted">
                Loading…
              </td>
            </tr>
          )}
          {versions.map((v) => (
            <tr key={v.version} data-testid="version-row" data-version={v.version}>
              <td class="num">{v.version}</td>
              <td class="num">{bytes(v.size)}</td>
              <td class="v-at">
                <Submitted iso={v.submitted_at} />
                <br />
                <span class="muted small">{v.submitted_by ?? "–"}</span>
              </td>
              <td class="hash" title={v.sha256 ? `SHA-256 ${v.sha256}` : ""} data-fixity={v.fixity}>
                {v.sha256 ? `${v.sha256.slice(0, 12)}…` : "–"}
                <br />
                <span class={`small ${v.fixity === "corrupt" ? "error-text" : "muted"}`}>{v.integrity}</span>
                {v.drs_uri && (
                  <>
                    <br />
                    <button
                      type="button"
                      class="linklike small"
                      data-testid="copy-drs"
                      data-drs={v.drs_uri}
                      title={v.drs_uri}
                      aria-label={`Copy DRS URI of version ${v.version}`}
                      onClick={() => void copyDrs(v.drs_uri ?? "")}
                    >
                      Copy DRS URI
                    </button>
                  </>
                )}
              </td>
              <td class="end">
                {canDownload && (
                  <button type="button" class="button small" onClick={() => props.onDownload(v.version)} aria-label={`Download version ${v.version}`}>
                    Download
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>

      <div class="drawer-foot row spread">
        {canManage ? (
          <button type="button" class="button danger" data-testid="delete-file" onClick={() => props.onDelete(row)}>
            Mark deleted…
          </button>
        ) : (
          <span />
        )}
        <button type="button" class="button" onClick={props.onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}
