import { useEffect, useMemo, useRef, useState } from "preact/hooks";

import { api, errorMessage, serverTimeOffsetMs } from "../api/client";
import type { DownloadLink, FilePage, FileRow } from "../api/types";
import { Dialog, Notice } from "../ui/components";
import { downloadLinks } from "./downloads";
import { FASTA_EXTENSIONS, findIndex, missingIndexMessage, needsRefresh, pairReferences, searchStem, viewable } from "./genomeFiles";
import type { Reference } from "./genomeFiles";

type Browser = Awaited<ReturnType<(typeof import("igv"))["default"]["createBrowser"]>>;
type UrlSource = () => Promise<string>;

async function listFiles(query: Record<string, string | number | undefined>): Promise<FileRow[]> {
  const answer = await api.get<FilePage>("/api/files", { ...query, limit: 1000 });
  return answer.items;
}

/** Presigned S3 URLs for igv.js, renewed (all at once, one request) when one has less than a minute left.
 * igv.js resolves a function URL before every request, so a viewer left open keeps working. */
class PresignedUrls {
  private links = new Map<string, DownloadLink>();
  private pending: Promise<void> | null = null;

  constructor(private readonly items: { file_id: string; version?: number }[]) {}

  private refresh(): Promise<void> {
    this.pending ??= downloadLinks(this.items)
      .then((links) => links.forEach((l) => this.links.set(l.file_id, l)))
      .finally(() => (this.pending = null));
    return this.pending;
  }

  source(fileId: string): UrlSource {
    return async () => {
      if (needsRefresh(this.links.get(fileId)?.expires_at, Date.now() + serverTimeOffsetMs)) await this.refresh();
      const link = this.links.get(fileId);
      if (!link) throw new Error("No download URL for this file");
      return link.url;
    };
  }
}

export function GenomeViewer(props: { row: FileRow; onClose: () => void }) {
  const { row } = props;
  const info = useMemo(() => viewable(row.name), [row.name]);
  const [index, setIndex] = useState<FileRow | null | undefined>(undefined); // undefined: still looking
  const [references, setReferences] = useState<Reference<FileRow>[] | null>(null);
  const [chosen, setChosen] = useState("");
  const [status, setStatus] = useState("");
  const [error, setError] = useState("");
  const [ready, setReady] = useState(false);
  const container = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!info) return;
    let live = true;
    const siblings = info.indexNames.length
      ? listFiles({ dataset_id: row.dataset_id, name: searchStem(row.name) })
      : Promise.resolve([]);
    siblings.then(
      (files) => {
        if (!live) return;
        const name = findIndex(info.indexNames, files.map((f) => f.name));
        setIndex(files.find((f) => f.name === name) ?? null);
      },
      (err) => live && setError(errorMessage(err)),
    );
    Promise.all([...FASTA_EXTENSIONS, "fai", "gzi"].map((extension) => listFiles({ project_id: row.project_id, extension })))
      .then((lists) => live && setReferences(pairReferences(lists.flat())))
      .catch((err) => live && setError(errorMessage(err)));
    return () => {
      live = false;
    };
  }, [row.id]);

  const reference = references?.find((r) => r.fasta.id === chosen) ?? null;
  const blocked = Boolean(info?.indexRequired && index === null);

  useEffect(() => {
    const div = container.current;
    if (!info || !reference || !div || index === undefined || blocked) return;
    let browser: Browser | null = null;
    let live = true;
    const urls = new PresignedUrls([
      { file_id: row.id, version: row.version },
      ...[index, reference.fasta, reference.fai, reference.gzi].filter((f): f is FileRow => f !== null).map((f) => ({ file_id: f.id })),
    ]);
    // igv.js accepts a function wherever it takes a URL (its types only name strings and promises).
    const url = (f: FileRow) => urls.source(f.id) as unknown as string;
    setStatus("Loading the genome browser…");
    setError("");
    setReady(false);
    (async () => {
      const igv = (await import("igv")).default;
      if (!live) return;
      const track: Record<string, unknown> = { type: info.kind, format: info.format, name: row.name.split("/").pop(), url: url(row) };
      if (index) track.indexURL = url(index);
      else track.indexed = false;
      const genome: Record<string, unknown> = {
        id: reference.fasta.name.split("/").pop(),
        name: reference.fasta.name,
        fastaURL: url(reference.fasta),
        indexURL: url(reference.fai),
      };
      if (reference.gzi) genome.compressedIndexURL = url(reference.gzi);
      // loadDefaultGenomes / search false: no requests to igv.org (genome list, feature search service)
      const created = await igv.createBrowser(div, { reference: genome, tracks: [track], loadDefaultGenomes: false, search: false } as unknown as Parameters<typeof igv.createBrowser>[1]);
      if (!live) {
        igv.removeBrowser(created);
        return;
      }
      browser = created;
      setStatus("");
      setReady(true);
    })().catch((err) => {
      if (!live) return;
      setStatus("");
      setError(`The genome browser could not show this file: ${errorMessage(err)}`);
    });
    return () => {
      live = false;
      if (browser) void import("igv").then(({ default: igv }) => browser && igv.removeBrowser(browser));
      div.replaceChildren();
    };
  }, [row.id, reference?.fasta.id, index, blocked]);

  const name = row.name.split("/").pop() ?? row.name;
  return (
    <Dialog open wide title={`View ${name}`} onClose={props.onClose} testId="genome-viewer">
      {!info && <Notice tone="error">The genome browser shows BAM, CRAM, VCF, BED and bigWig files.</Notice>}
      {info && blocked && (
        <p class="viewer-missing" role="alert" data-testid="missing-index">
          {missingIndexMessage(row.name, info)}
        </p>
      )}
      {info && !blocked && (
        <label class="field viewer-reference">
          <span>Reference genome</span>
          <select value={chosen} data-testid="reference-select" disabled={references === null} onChange={(e) => setChosen(e.currentTarget.value)}>
            <option value="">{references === null ? "Looking for FASTA files…" : references.length ? "Choose a FASTA file…" : "None found"}</option>
            {(references ?? []).map((r) => (
              <option key={r.fasta.id} value={r.fasta.id}>
                {r.fasta.project_code}/{r.fasta.dataset_code}/{r.fasta.name}
              </option>
            ))}
          </select>
        </label>
      )}
      {info && !blocked && references?.length === 0 && (
        <p class="muted small">
          No reference in this project: upload a FASTA file (.fa, .fasta, .fa.gz) with its .fai index (and .gzi when bgzipped) next to it.
        </p>
      )}
      {status && <p class="muted" role="status">{status}</p>}
      {error && <Notice tone="error">{error}</Notice>}
      {/* Hidden (not display: none, igv.js measures it) until the reference is loaded: igv's own locus box
          throws when used before that. */}
      <div ref={container} class={`genome-browser${ready ? "" : " loading"}`} data-testid="igv" data-ready={ready} />
    </Dialog>
  );
}
