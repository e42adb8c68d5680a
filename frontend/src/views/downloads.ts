import { api, apiErrorFrom } from "../api/client";
import { currentToken } from "../auth/session";
import type { DownloadLink, DownloadLinks } from "../api/types";

export async function downloadLinks(items: { file_id: string; version?: number }[]): Promise<DownloadLink[]> {
  const answer = await api.post<DownloadLinks>("/api/files/download-urls", { items });
  return answer.items;
}

/** Starts a browser download through the service's link: it checks the file on every use (a file marked
 * deleted is refused) and redirects to S3, whose answer carries Content-Disposition: attachment. */
export function startDownload(link: DownloadLink): void {
  const a = document.createElement("a");
  a.href = link.link;
  a.download = link.name.split("/").pop() ?? link.name;
  a.rel = "noopener";
  document.body.appendChild(a);
  a.click();
  a.remove();
}

/** The service's TSV manifest (name, version, size, checksums, URL) of the same selection. */
export async function manifestTsv(links: DownloadLink[]): Promise<string> {
  const response = await fetch("/api/files/manifest?format=tsv", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${currentToken() ?? ""}` },
    body: JSON.stringify({ items: links.map((l) => ({ file_id: l.file_id, version: l.version })) }),
  });
  const text = await response.text();
  if (!response.ok) {
    const err = apiErrorFrom(response, text);
    throw new Error(`The manifest could not be made: ${err.message}`);
  }
  return text;
}

export function wgetScript(links: DownloadLink[]): string {
  const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
  const lines = ["#!/bin/sh", "# omicsdm download; the links expire, see the manifest", "set -e"];
  for (const l of links) {
    const dir = l.name.includes("/") ? l.name.slice(0, l.name.lastIndexOf("/")) : "";
    if (dir) lines.push(`mkdir -p ${quote(dir)}`);
    lines.push(`curl -fL -o ${quote(l.name)} ${quote(l.link)}`);
  }
  return lines.join("\n") + "\n";
}

export function saveText(filename: string, text: string, type = "text/plain"): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
