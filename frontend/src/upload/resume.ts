// Remembers unfinished uploads across page reloads: fingerprint of the local file -> the service's upload.
// Re-adding the same file makes POST /api/uploads answer with the same pending upload (resumed: true, same
// object key), and EvaporateJS then lists the parts already in S3 and sends only the missing ones.
const KEY = "omicsdm.pendingUploads";

export interface PendingRecord {
  uploadId: string;
  datasetId: string;
  datasetLabel: string;
  name: string;
  size: number;
  startedAt: string;
}

export function fingerprint(file: File, name: string, datasetId: string): string {
  return JSON.stringify([datasetId, name, file.size, file.lastModified, file.type]);
}

function read(): Record<string, PendingRecord> {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? "{}") as Record<string, PendingRecord>;
  } catch {
    return {};
  }
}

function write(records: Record<string, PendingRecord>): void {
  localStorage.setItem(KEY, JSON.stringify(records));
}

export function rememberPending(fp: string, record: PendingRecord): void {
  write({ ...read(), [fp]: record });
}

export function lookupPending(fp: string): PendingRecord | undefined {
  return read()[fp];
}

export function forgetPending(fp: string): void {
  const records = read();
  delete records[fp];
  write(records);
}

export function forgetUpload(uploadId: string): void {
  write(Object.fromEntries(Object.entries(read()).filter(([, r]) => r.uploadId !== uploadId)));
}

export function allPending(): [string, PendingRecord][] {
  return Object.entries(read()).sort((a, b) => a[1].startedAt.localeCompare(b[1].startedAt));
}

/**
 * EvaporateJS keeps its own resume records in localStorage.awsUploads, each with the `signParams` of the
 * upload, and restores them when it resumes. Frontends before the X-Upload-Token header stored the upload
 * token there, which would put it back into the signer's query string (and the access logs) on resume:
 * strip every signParams entry. The token now comes with each (resumed) upload as a header.
 */
export function dropLegacySignParams(): void {
  try {
    const text = localStorage.getItem("awsUploads");
    if (!text) return;
    const uploads = JSON.parse(text) as Record<string, { signParams?: Record<string, unknown> }>;
    let changed = false;
    for (const record of Object.values(uploads)) {
      if (record && record.signParams && Object.keys(record.signParams).length) {
        record.signParams = {};
        changed = true;
      }
    }
    if (changed) localStorage.setItem("awsUploads", JSON.stringify(uploads));
  } catch {
    // unreadable or no localStorage: EvaporateJS then has no record to resume either
  }
}
