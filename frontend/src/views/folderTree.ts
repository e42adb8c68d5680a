// Folders exist only in file names ("run1/qc/report.html"): one folder's subfolders and files, from a flat list.
// Pure (no imports), so scripts/folders.test.mjs checks it in node.

export interface Folder {
  name: string;
  files: number;
  size: number;
  latest: string;
}

interface Named {
  name: string;
  size: number;
  submitted_at: string;
}

/** The folders right below `path` (with their file count, total size, latest submission) and its own files. */
export function splitFolder<T extends Named>(rows: T[], path: string[]): { folders: Folder[]; files: T[] } {
  const prefix = path.length ? `${path.join("/")}/` : "";
  const folders = new Map<string, Folder>();
  const files: T[] = [];
  for (const row of rows) {
    if (!row.name.startsWith(prefix)) continue;
    const rest = row.name.slice(prefix.length);
    const slash = rest.indexOf("/");
    if (slash < 0) {
      files.push(row);
      continue;
    }
    const name = rest.slice(0, slash);
    const folder = folders.get(name) ?? { name, files: 0, size: 0, latest: "" };
    folder.files += 1;
    folder.size += row.size;
    if (row.submitted_at > folder.latest) folder.latest = row.submitted_at;
    folders.set(name, folder);
  }
  const order = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
  return { folders: [...folders.values()].sort((a, b) => order.compare(a.name, b.name)), files };
}
