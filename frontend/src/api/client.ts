// The one place that talks HTTP to the service: bearer token in, problem+json errors out as ApiError.
import { currentToken, onUnauthorized } from "../auth/session";

/**
 * The stable machine-readable `code` of every problem+json body (docs/api.md lists them). Branch on it
 * (and on the status), never on the English `detail`: the wording may change, the codes do not.
 */
export type ProblemCode =
  | "invalid-input"
  | "bad-request"
  | "not-authenticated"
  | "forbidden"
  | "not-found"
  | "conflict"
  | "upload-not-pending"
  | "upload-expired"
  | "checksum-mismatch"
  | "size-mismatch"
  | "not-in-s3"
  | "metadata-mismatch"
  | "signing-refused"
  | "database-unavailable"
  | "storage-unavailable"
  | "identity-provider-unavailable"
  | "too-large"
  | "method-not-allowed"
  | "internal-error"
  | (string & {}); // a service newer than this frontend may send codes it does not know yet

export interface Problem {
  type?: string;
  title?: string;
  status: number;
  /** Absent only in answers that did not come from the service itself (a proxy's HTML error page). */
  code?: ProblemCode;
  detail: string;
  errors?: { loc?: (string | number)[]; msg?: string; type?: string }[];
}

/** The part of the service a 503 names as down, by its `code`. */
const UNAVAILABLE: Record<string, string> = {
  "database-unavailable": "database",
  "storage-unavailable": "storage",
  "identity-provider-unavailable": "identity provider",
};

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;
  /** Seconds from the `Retry-After` header (503 answers carry one), when there was one. */
  readonly retryAfter?: number;

  constructor(problem: Problem, retryAfter?: number) {
    super(describeProblem(problem, retryAfter));
    this.status = problem.status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }

  get code(): ProblemCode | undefined {
    return this.problem.code;
  }
}

/** The part a 503 names as down ("database", "storage", "identity provider"), from its `code`. */
export function unavailablePart(problem: Pick<Problem, "code">): string | undefined {
  return problem.code ? UNAVAILABLE[problem.code] : undefined;
}

/** True for answers worth repeating later as they are: a part of the service is down (503), or a gateway error. */
export function isTemporary(problem: Pick<Problem, "status" | "code">): boolean {
  return unavailablePart(problem) !== undefined || [502, 503, 504].includes(problem.status);
}

/** `Retry-After` in seconds (delta-seconds or an HTTP date), or undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** A sentence a person can act on: chosen by `code` where the frontend knows better, else the service's `detail`
 * plus the first field error when there is one. */
export function describeProblem(p: Problem, retryAfter?: number): string {
  const part = unavailablePart(p);
  if (part) {
    const when = retryAfter !== undefined ? `in ${retryAfter} s` : "in a moment";
    return `The service is temporarily unavailable (${part}); try again ${when}.`;
  }
  let text = p.detail || p.title || `Request failed (${p.status})`;
  const first = p.errors?.[0];
  if (first?.msg) {
    const field = (first.loc ?? []).filter((part) => part !== "body" && part !== "query").join(".");
    text += ` ${field ? `${field}: ` : ""}${first.msg}`;
  }
  return text;
}

/** The problem in an error answer's body; a body that is not problem+json (a proxy's page) gets a generic one. */
export function problemFromBody(status: number, statusText: string, text: string): Problem {
  let data: unknown = undefined;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  const problem: Problem =
    data && typeof data === "object" && "detail" in data
      ? { ...(data as Problem), status }
      : { status, detail: `${status} ${statusText || "error"}` };
  if (typeof problem.detail !== "string") problem.detail = JSON.stringify(problem.detail);
  if (typeof problem.code !== "string") delete problem.code;
  return problem;
}

/** The ApiError for an answer that is not ok (its body already read as `text`). */
export function apiErrorFrom(response: Response, text: string): ApiError {
  return new ApiError(
    problemFromBody(response.status, response.statusText, text),
    parseRetryAfter(response.headers.get("Retry-After")),
  );
}

export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof TypeError) return "The service cannot be reached. Check your connection and try again.";
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Server clock minus ours (ms), from the Date header; SigV4 requests are refused 15 min off the server's time. */
export let serverTimeOffsetMs = 0;

function noteServerTime(response: Response): void {
  const date = Date.parse(response.headers.get("Date") ?? "");
  if (!Number.isNaN(date)) {
    const offset = date - Date.now();
    // The header has whole seconds: ignore small differences, correct real skew.
    serverTimeOffsetMs = Math.abs(offset) > 30_000 ? offset : 0;
  }
}

type Query = Record<string, string | number | boolean | null | undefined>;

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  auth?: boolean;
  signal?: AbortSignal;
}

export async function request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json, application/problem+json" };
  const token = options.auth === false ? null : currentToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  const response = await fetch(withQuery(path, options.query), { method, headers, body, signal: options.signal });
  noteServerTime(response);
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  if (!response.ok) {
    if (response.status === 401 && token) onUnauthorized();
    throw apiErrorFrom(response, text);
  }
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  return data as T;
}

export const api = {
  get: <T>(path: string, query?: Query, signal?: AbortSignal) => request<T>("GET", path, { query, signal }),
  post: <T>(path: string, body?: unknown) => request<T>("POST", path, { body: body ?? {} }),
  patch: <T>(path: string, body: unknown) => request<T>("PATCH", path, { body }),
  del: <T>(path: string) => request<T>("DELETE", path),
};
