// The one way the desk talks to the server: JSON over fetch, the session cookie sent along, and
// the CSRF token (a cookie the server sets, echoed in a header) on every write.

export const CSRF_COOKIE = "tw_csrf";
export const CSRF_HEADER = "X-CSRF-Token";

/** A field the server refused, with its message (`["body", "email"]` -> "email"). */
export interface FieldError {
  field: string;
  message: string;
}

/** What a failed request tells the person: the message, and per-field messages for forms. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly fields: FieldError[] = [],
  ) {
    super(message);
  }

  fieldMessage(field: string): string | undefined {
    return this.fields.find((error) => error.field === field)?.message;
  }
}

export function readCookie(name: string, cookies = document.cookie): string | undefined {
  for (const part of cookies.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return undefined;
}

interface ErrorBody {
  detail?: unknown;
  message?: string;
  errors?: FieldError[];
}

export function errorFrom(status: number, body: ErrorBody | null): ApiError {
  if (body && typeof body.detail === "string") return new ApiError(status, body.detail, body.errors ?? []);
  if (body && Array.isArray(body.errors) && body.errors.length > 0) {
    return new ApiError(status, body.message ?? body.errors[0]!.message, body.errors);
  }
  if (status === 401) return new ApiError(status, "Please sign in again.");
  if (status === 404) return new ApiError(status, "Not found.");
  if (status === 429) return new ApiError(status, "Too many attempts; wait a minute and try again.");
  if (status >= 500) return new ApiError(status, "The server failed to answer; try again in a moment.");
  return new ApiError(status, `The request failed (${status}).`);
}

type Query = Record<string, string | number | boolean | null | undefined>;

function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== null && value !== undefined && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** Listeners told when the session is gone (a 401 anywhere), so the app can show sign-in. */
const signedOutListeners = new Set<() => void>();
export function onSignedOut(listener: () => void): () => void {
  signedOutListeners.add(listener);
  return () => signedOutListeners.delete(listener);
}

export async function request<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  let payload: BodyInit | undefined;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  if (method !== "GET") {
    const csrf = readCookie(CSRF_COOKIE);
    if (csrf) headers[CSRF_HEADER] = csrf;
  }
  let response: Response;
  try {
    response = await fetch(withQuery(path, query), { method, headers, body: payload, credentials: "same-origin" });
  } catch {
    throw new ApiError(0, "The server cannot be reached; check your connection.");
  }
  const text = await response.text();
  const data = text ? (JSON.parse(text) as unknown) : null;
  if (!response.ok) {
    if (response.status === 401 && !path.startsWith("/api/auth/")) signedOutListeners.forEach((listener) => listener());
    throw errorFrom(response.status, data as ErrorBody | null);
  }
  return data as T;
}

export const api = {
  get: <T>(path: string, query?: Query) => request<T>("GET", path, undefined, query),
  post: <T>(path: string, body?: unknown) => request<T>("POST", path, body ?? {}),
  put: <T>(path: string, body: unknown) => request<T>("PUT", path, body),
  patch: <T>(path: string, body: unknown) => request<T>("PATCH", path, body),
  delete: <T>(path: string) => request<T>("DELETE", path),
};

/** A page of a list endpoint. */
export interface Page<T> {
  items: T[];
  total: number;
  offset: number;
  limit: number;
}

/** Every item of a list endpoint, page after page (bounded, so a huge list cannot hang a page). */
export async function everyItem<T>(path: string, query: Record<string, string> = {}, most = 20_000): Promise<T[]> {
  const items: T[] = [];
  for (let offset = 0; offset < most; offset += 500) {
    const page = await api.get<Page<T>>(path, { ...query, offset, limit: 500 });
    items.push(...page.items);
    if (items.length >= page.total || page.items.length === 0) break;
  }
  return items;
}

/** A strategy's versions, newest first (none for no strategy). */
export async function versionsOf(strategyId: number): Promise<import("./types").StrategyVersion[]> {
  if (!strategyId) return [];
  return everyItem(`/api/strategies/${strategyId}/versions`);
}
