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
