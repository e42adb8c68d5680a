import { useEffect, useRef, useState } from "preact/hooks";

import { api } from "../api/client";
import type { components } from "../api/schema";
import type { Dataset, Me } from "../api/types";
import { Empty, Notice, ProgressBar, notify } from "../ui/components";
import { bytes, duration, plural, speed, when } from "../ui/format";
import { useStore } from "../ui/hooks";
import { filesFromDrop, filesFromList, type PickedFile } from "../upload/dropped";
import { rowFigures } from "../upload/figures";
import {
  FINISHED,
  addFiles,
  canPause,
  cancelAll,
  cancelUpload,
  clearFinished,
  getItems,
  onUploadCompleted,
  overall,
  pauseAll,
  pauseUpload,
  resumeAll,
  resumeUpload,
  retryUpload,
  subscribeUploads,
  type UploadItem,
} from "../upload/manager";
import { allPending, forgetPending, type PendingRecord } from "../upload/resume";

type UploadLimits = components["schemas"]["UploadLimits"];

/** "FASTQ, BAM, VCF … any type" or the service's allow-list, and the size limit: shown before anything is picked. */
function LimitsNote(props: { limits: UploadLimits | null }) {
  const { limits } = props;
  if (!limits) return <span class="muted">FASTQ, BAM, VCF, h5ad, tables…</span>;
  const types = limits.allowed_extensions.length
    ? `Allowed types: ${limits.allowed_extensions.map((e) => `.${e}`).join(", ")}`
    : "Any file type";
  return (
    <span class="muted" data-testid="upload-limits">
      {types} · up to {bytes(limits.max_file_size)} per file
    </span>
  );
}

export function UploadView(props: { dataset: Dataset | null; datasets: Dataset[] | null; me: Me | null }) {
  const { dataset } = props;
  const items = useStore(subscribeUploads, getItems);
  const [dragging, setDragging] = useState(false);
  const [comment, setComment] = useState("");
  const [pending, setPending] = useState(allPending);
  const [limits, setLimits] = useState<UploadLimits | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);

  useEffect(() => onUploadCompleted(() => setPending(allPending())), []);
  useEffect(() => setPending(allPending()), [items.length]);
  useEffect(() => {
    api.get<UploadLimits>("/api/uploads/limits").then(setLimits, () => undefined);
  }, []);

  const canUpload = Boolean(dataset?.permissions.upload);
  const refusal = !dataset
    ? "Choose a dataset above to upload into."
    : !canUpload
      ? `You can read the dataset ${dataset.project_code}/${dataset.code} but not upload to it: only members of ${dataset.owner_group} may add files. Ask them to upload, or to give your group write access.`
      : "";

  function take(files: PickedFile[]) {
    if (!dataset || !canUpload) {
      notify(refusal, "error");
      return;
    }
    const usable = files.filter((f) => f.file.size > 0 || f.name);
    if (usable.length === 0) return;
    addFiles(usable, { id: dataset.id, label: `${dataset.project_code}/${dataset.code}` }, comment.trim());
    notify(`${plural(usable.length, "file")} added to the queue for ${dataset.project_code}/${dataset.code}.`);
  }

  async function onDrop(event: DragEvent) {
    event.preventDefault();
    setDragging(false);
    if (event.dataTransfer) take(await filesFromDrop(event.dataTransfer));
  }

  const stalePending = pending.filter(([, rec]) => !items.some((i) => i.upload?.id === rec.uploadId));
  const totals = overall(items);

  return (
    <div class="upload-page">
      <section class="panel">
        <div class="panel-head">
          <h1>Upload</h1>
          <p class="muted">
            {dataset ? (
              <>
                Into <strong>{dataset.project_code}/{dataset.code}</strong> — {dataset.name}. Folders keep their paths;
                a file with an existing name becomes its next version.
              </>
            ) : (
              "Files go straight from your computer to storage, in parallel parts, and can resume after a reload."
            )}
          </p>
        </div>
        {refusal && (
          <Notice tone={dataset ? "error" : "info"} testId="upload-refusal">
            {refusal}
          </Notice>
        )}
        <div
          class={`dropzone ${dragging ? "over" : ""} ${canUpload ? "" : "disabled"}`}
          data-testid="dropzone"
          onDragOver={(e) => {
            e.preventDefault();
            if (e.dataTransfer) e.dataTransfer.dropEffect = canUpload ? "copy" : "none";
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={onDrop}
        >
          <svg viewBox="0 0 24 24" width="36" height="36" aria-hidden="true">
            <path d="M12 16V4m0 0-4 4m4-4 4 4M4 16v3a1 1 0 0 0 1 1h14a1 1 0 0 0 1-1v-3" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round" />
          </svg>
          <p>
            <strong>Drop files or folders here</strong>
            <br />
            <LimitsNote limits={limits} />
          </p>
          <div class="row">
            <button type="button" class="button primary" disabled={!canUpload} onClick={() => fileInput.current?.click()}>
              Choose files
            </button>
            <button type="button" class="button" disabled={!canUpload} onClick={() => folderInput.current?.click()}>
              Choose a folder
            </button>
          </div>
          <input
            ref={fileInput}
            type="file"
            multiple
            hidden
            data-testid="file-input"
            disabled={!canUpload}
            onChange={(e) => {
              take(filesFromList(e.currentTarget.files));
              e.currentTarget.value = "";
            }}
          />
          <input
            ref={folderInput}
            type="file"
            hidden
            data-testid="folder-input"
            disabled={!canUpload}
            {...{ webkitdirectory: true }}
            onChange={(e) => {
              take(filesFromList(e.currentTarget.files));
              e.currentTarget.value = "";
            }}
          />
        </div>
        <label class="field inline">
          <span>Comment for the next files (optional)</span>
          <input
            value={comment}
            maxLength={10000}
            placeholder="e.g. NovaSeq run 2024-05, lane 1"
            onInput={(e) => setComment(e.currentTarget.value)}
          />
        </label>
      </section>

      {stalePending.length > 0 && (
        <section class="panel" aria-labelledby="unfinished-title" data-testid="unfinished">
          <h2 id="unfinished-title">Unfinished uploads from an earlier visit</h2>
          <p class="muted">
            Pick or drop the same file again (here or on the Files view) and only the missing parts are sent: it is
            recognised by its size and date, and goes to its dataset under its path.
          </p>
          <ul class="unfinished">
            {stalePending.map(([fp, rec]) => (
              <UnfinishedRow key={fp} fp={fp} rec={rec} comment={comment.trim()} onGone={() => setPending(allPending())} />
            ))}
          </ul>
        </section>
      )}

      <section class="panel" aria-labelledby="queue-title">
        <div class="panel-head row spread">
          <h2 id="queue-title">
            Transfers
            {items.length > 0 && (
              <span class="muted small">
                {" "}
                · {totals.done} of {items.length} done
              </span>
            )}
          </h2>
          <div class="row">
            <button type="button" class="button small" disabled={!items.some(canPause)} onClick={pauseAll}>
              Pause all
            </button>
            <button
              type="button"
              class="button small"
              disabled={!items.some((i) => i.status === "paused")}
              onClick={resumeAll}
            >
              Resume all
            </button>
            <button
              type="button"
              class="button small danger-text"
              disabled={totals.running === 0}
              onClick={() => {
                if (confirm(`Cancel ${plural(totals.running, "unfinished upload")}? The parts already stored are discarded.`)) cancelAll();
              }}
            >
              Cancel all
            </button>
            <button
              type="button"
              class="button ghost small"
              disabled={!items.some((i) => FINISHED.includes(i.status))}
              onClick={clearFinished}
            >
              Clear finished
            </button>
          </div>
        </div>
        {totals.running > 0 && (
          <div class="overall" data-testid="overall">
            <ProgressBar value={totals.size ? totals.loaded / totals.size : 0} label="All uploads" />
            {/* One line of figures: each keeps its words together, a narrow window wraps only after a "·". */}
            <p class="overall-meta">
              <span class="tabular">
                {bytes(totals.loaded)} of {bytes(totals.size)}
              </span>
              {totals.speed > 0 && (
                <>
                  {"\u00a0· "}
                  <span class="tabular" title="Current speed">
                    {speed(totals.speed)}
                  </span>
                </>
              )}
              {totals.secondsLeft >= 0 && (
                <>
                  {"\u00a0· "}
                  <span class="tabular" title="Time left">
                    {duration(totals.secondsLeft)} left
                  </span>
                </>
              )}
              {"\u00a0· "}
              <span>{plural(totals.running, "upload")} running or waiting</span>
            </p>
          </div>
        )}
        {items.length === 0 ? (
          <Empty title="Nothing queued yet">Files you add appear here with their progress, speed and time left.</Empty>
        ) : (
          <ul class="transfers" data-testid="transfers">
            {items.map((item) => (
              <TransferRow key={item.key} item={item} />
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}

const STATUS_LABEL: Record<UploadItem["status"], string> = {
  queued: "Queued",
  starting: "Starting",
  uploading: "Uploading",
  pausing: "Pausing",
  paused: "Paused",
  retrying: "Waiting to retry",
  completing: "Verifying",
  done: "Done",
  failed: "Failed",
  cancelled: "Cancelled",
};

function TransferRow(props: { item: UploadItem }) {
  const { item } = props;
  const { fraction, tone, shown } = rowFigures(item);
  const slash = item.name.lastIndexOf("/");
  return (
    <li class={`transfer ${item.status}`} data-testid="transfer" data-status={item.status} data-name={item.name}>
      <div class="transfer-main">
        <div class="transfer-name" title={item.name}>
          {slash >= 0 && <span class="muted">{item.name.slice(0, slash + 1)}</span>}
          <span>{item.name.slice(slash + 1)}</span>
          {item.resumed && <span class="badge">resumed</span>}
        </div>
        <ProgressBar value={fraction} tone={tone} label={`Upload of ${item.name}`} />
        <div class="transfer-meta">
          <span class={`status-pill ${item.status}`}>{STATUS_LABEL[item.status]}</span>
          <span class="tabular transfer-bytes">
            {shown === undefined ? bytes(item.file.size) : `${bytes(shown)} / ${bytes(item.file.size)}`}
          </span>
          <span class="tabular" title="Current speed">
            {item.status === "uploading" ? speed(item.speed) : null}
          </span>
          <span class="tabular" title="Time left">
            {item.status === "uploading" && item.secondsLeft >= 0 ? `${duration(item.secondsLeft)} left` : null}
          </span>
          <span
            class="transfer-message"
            data-testid="transfer-message"
            role={item.status === "failed" ? "alert" : item.status === "retrying" ? "status" : undefined}
          >
            {item.message}
          </span>
        </div>
      </div>
      <div class="transfer-actions">
        {canPause(item) && (
          <button type="button" class="button small" onClick={() => pauseUpload(item)} aria-label={`Pause ${item.name}`}>
            Pause
          </button>
        )}
        {item.status === "paused" && (
          <button type="button" class="button small" onClick={() => resumeUpload(item)} aria-label={`Resume ${item.name}`}>
            Resume
          </button>
        )}
        {(item.status === "failed" || item.status === "cancelled") && (
          <button type="button" class="button small" onClick={() => retryUpload(item)} aria-label={`Retry ${item.name}`}>
            Retry
          </button>
        )}
        {!FINISHED.includes(item.status) && (
          <button type="button" class="button small danger-text" onClick={() => cancelUpload(item)} aria-label={`Cancel ${item.name}`}>
            Cancel
          </button>
        )}
      </div>
    </li>
  );
}

function UnfinishedRow(props: { fp: string; rec: PendingRecord; comment: string; onGone: () => void }) {
  const { rec } = props;
  const [busy, setBusy] = useState(false);
  const picker = useRef<HTMLInputElement>(null);
  async function discard() {
    setBusy(true);
    await api.post(`/api/uploads/${rec.uploadId}/cancel`).catch(() => undefined);
    forgetPending(props.fp);
    props.onGone();
  }
  function picked(list: FileList | null) {
    const file = list?.[0];
    if (!file) return;
    if (file.size !== rec.size || (rec.lastModified !== undefined && file.lastModified !== rec.lastModified)) {
      notify(
        `${file.name} is not the file of this upload: it has ${bytes(file.size)}, modified ${when(new Date(file.lastModified).toISOString())}.`,
        "error",
      );
      return;
    }
    // addFiles recognises the file (size, date, name) and continues this upload under its path and dataset.
    addFiles([{ file, name: rec.name }], { id: rec.datasetId, label: rec.datasetLabel }, props.comment);
    notify(`Continuing ${rec.name}.`);
  }
  const base = rec.name.slice(rec.name.lastIndexOf("/") + 1);
  return (
    <li data-testid="unfinished-upload" data-name={rec.name}>
      <span class="transfer-name">
        {rec.name}{" "}
        <span class="muted">
          · {bytes(rec.size)}
          {rec.lastModified !== undefined && <> · modified {when(new Date(rec.lastModified).toISOString())}</>} · into{" "}
          {rec.datasetLabel}
        </span>
      </span>
      <span class="row">
        <button type="button" class="button small" disabled={busy} onClick={() => picker.current?.click()}>
          Choose {base} again…
        </button>
        <input
          ref={picker}
          type="file"
          hidden
          data-testid="unfinished-input"
          onChange={(e) => {
            picked(e.currentTarget.files);
            e.currentTarget.value = "";
          }}
        />
        <button type="button" class="button small ghost" disabled={busy} onClick={discard}>
          Discard
        </button>
      </span>
    </li>
  );
}
