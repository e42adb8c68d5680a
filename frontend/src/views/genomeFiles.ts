// Which files the genome browser can show, which index belongs to them and which FASTA files can serve as a
// reference. Pure functions on file names, checked by scripts/genome.test.mjs.

export type TrackKind = "alignment" | "variant" | "annotation" | "wig";

export interface Viewable {
  kind: TrackKind;
  /** igv.js's format name */
  format: "bam" | "cram" | "vcf" | "bed" | "bigwig";
  /** Index file names to look for next to the file, the preferred first; empty when none is used. */
  indexNames: string[];
  /** true: the file cannot be shown without one of indexNames */
  indexRequired: boolean;
}

/** What the browser makes of a file name, or null when it cannot show it. */
export function viewable(name: string): Viewable | null {
  const n = name.toLowerCase();
  const stem = (suffix: string) => name.slice(0, name.length - suffix.length);
  if (n.endsWith(".bam")) {
    return { kind: "alignment", format: "bam", indexNames: [`${name}.bai`, `${stem(".bam")}.bai`], indexRequired: true };
  }
  if (n.endsWith(".cram")) {
    return { kind: "alignment", format: "cram", indexNames: [`${name}.crai`, `${stem(".cram")}.crai`], indexRequired: true };
  }
  if (n.endsWith(".vcf.gz")) {
    return { kind: "variant", format: "vcf", indexNames: [`${name}.tbi`, `${name}.csi`], indexRequired: true };
  }
  if (n.endsWith(".vcf")) return { kind: "variant", format: "vcf", indexNames: [], indexRequired: false };
  if (n.endsWith(".bed.gz")) {
    return { kind: "annotation", format: "bed", indexNames: [`${name}.tbi`, `${name}.csi`], indexRequired: true };
  }
  if (n.endsWith(".bed")) return { kind: "annotation", format: "bed", indexNames: [], indexRequired: false };
  if (n.endsWith(".bigwig") || n.endsWith(".bw")) {
    return { kind: "wig", format: "bigwig", indexNames: [], indexRequired: false };
  }
  return null;
}

/** The first of `candidates` among `names` (case-sensitive: object names are). */
export function findIndex(candidates: string[], names: Iterable<string>): string | null {
  const present = new Set(names);
  return candidates.find((c) => present.has(c)) ?? null;
}

/** The plain sentence for a missing index, naming the preferred index file. */
export function missingIndexMessage(name: string, info: Viewable): string {
  const base = (path: string) => path.split("/").pop() ?? path;
  const wanted = info.indexNames.map(base);
  const alternatives = wanted.length > 1 ? ` (or ${wanted.slice(1).join(", ")})` : "";
  return `No index ${wanted[0]}${alternatives} next to ${base(name)}: upload one to view it.`;
}

/** A name the browser can use as the track's search stem: the base name without the format's suffixes. */
export function searchStem(name: string): string {
  const base = name.split("/").pop() ?? name;
  return base.replace(/\.(bam|cram|vcf\.gz|vcf|bed\.gz|bed|bigwig|bw)$/i, "");
}

export const FASTA_EXTENSIONS = ["fa", "fasta", "fa.gz", "fasta.gz"];

export interface NamedFile {
  id: string;
  name: string;
  dataset_id: string;
}

export interface Reference<F extends NamedFile = NamedFile> {
  fasta: F;
  fai: F;
  /** the bgzip index of a compressed FASTA */
  gzi: F | null;
}

export function isFasta(name: string): boolean {
  const n = name.toLowerCase();
  return FASTA_EXTENSIONS.some((ext) => n.endsWith(`.${ext}`));
}

/** FASTA files with their `.fai` (and, when bgzipped, `.gzi`) next to them in the same dataset. */
export function pairReferences<F extends NamedFile>(files: F[]): Reference<F>[] {
  const byKey = new Map(files.map((f) => [`${f.dataset_id}\u0000${f.name}`, f]));
  const sibling = (f: F, suffix: string) => byKey.get(`${f.dataset_id}\u0000${f.name}${suffix}`) ?? null;
  const seen = new Set<string>();
  const references: Reference<F>[] = [];
  for (const fasta of files) {
    if (!isFasta(fasta.name) || seen.has(fasta.id)) continue;
    seen.add(fasta.id);
    const fai = sibling(fasta, ".fai");
    if (!fai) continue;
    const gzi = sibling(fasta, ".gzi");
    if (fasta.name.toLowerCase().endsWith(".gz") && !gzi) continue; // igv.js cannot read a bgzipped FASTA without it
    references.push({ fasta, fai, gzi });
  }
  return references.sort((a, b) => a.fasta.name.localeCompare(b.fasta.name));
}

/** Presigned URLs are refreshed when they have less than this left (or are gone). */
export const REFRESH_MARGIN_MS = 60_000;

/** true when a URL expiring at `expiresAt` (ISO) must be replaced before being used at `now` (ms). */
export function needsRefresh(expiresAt: string | undefined, now: number, marginMs = REFRESH_MARGIN_MS): boolean {
  if (!expiresAt) return true;
  const at = Date.parse(expiresAt);
  return !Number.isFinite(at) || at - now < marginMs;
}
