// The one place that talks HTTP to the service: bearer token in, problem+json errors out as ApiError.
import { currentToken, onUnauthorized } from "../auth/session";

export interface Problem {
  type?: string;
  title?: string;
  status: number;
  detail: string;
  errors?: { loc?: (string | number)[]; msg?: string; type?: string }[];
}

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(describeProblem(problem));
    this.status = problem.status;
    this.problem = problem;
  }
}

/** A sentence a person can act on: the service's `detail`, plus the first field error when there is one. */
export function describeProblem(p: Problem): string {
  let text = p.detail || p.title || `Request failed (${p.status})`;
  const first = p.errors?.[0];
  if (first?.msg) {
    const field = (first.loc ?? []).filter((part) => part !== "body" && part !== "query").join(".");
    text += ` ${field ? `${field}: ` : ""}${first.msg}`;
  }
  return text;
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
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (!response.ok) {
    const problem: Problem =
      data && typeof data === "object" && "detail" in data
        ? { ...(data as Problem), status: response.status }
        : { status: response.status, detail: `${response.status} ${response.statusText || "error"}` };
    if (typeof problem.detail !== "string") problem.detail = JSON.stringify(problem.detail);
    if (response.status === 401 && token) onUnauthorized();
    throw new ApiError(problem);
  }
  return data as T;
}

export const api = {
  get: <T>(path: string, query?: Query, signal?: AbortSignal) => request<T>("GET", path, { query, signal }),
  post: <T>(path: string, body?: unknown) => request<T>("POST", path, { body: body ?? {} }),
  patch: <T>(path: string, body: unknown) => request<T>("PATCH", path, { body }),
  del: <T>(path: string) => request<T>("DELETE", path),
};
