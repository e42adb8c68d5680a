// What a transfer row's bar and figures show, so that bar, figures and message tell the same story.
import type { UploadStatus } from "./manager";

export interface RowFigures {
  /** The bar's fill, 0 to 1. */
  fraction: number;
  /** The bar's tone (a class of .progress). */
  tone: "" | "success" | "error" | "paused" | "muted";
  /** Bytes to show as "shown / size"; undefined: the file's size alone (nothing counted towards it). */
  shown?: number;
}

export interface RowState {
  status: UploadStatus;
  loaded: number;
  stored: number;
  file: { size: number };
}

export function rowFigures(item: RowState): RowFigures {
  const size = item.file.size;
  const part = (n: number) => (size > 0 ? Math.min(1, Math.max(0, n / size)) : 0);
  switch (item.status) {
    case "done":
      return { fraction: 1, tone: "success" };
    case "cancelled":
      // Cancel aborts the multipart upload: S3 discards every part, whatever had been sent.
      return { fraction: 0, tone: "muted" };
    case "failed":
      // Parts in flight were aborted: only what S3 holds counts (what Retry continues from). Nothing held
      // (refused before any part, or before the upload started): the size alone, an empty bar.
      return item.stored > 0 ? { fraction: part(item.stored), tone: "error", shown: item.stored } : { fraction: 0, tone: "error" };
    case "paused":
    case "retrying":
      return { fraction: part(item.stored), tone: "paused", shown: item.stored };
    default: {
      const shown = Math.max(item.loaded, item.stored);
      return { fraction: part(shown), tone: "", shown };
    }
  }
}
