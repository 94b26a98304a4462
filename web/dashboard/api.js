// The dashboard's API client: JSON in and out, the management token from sessionStorage, and errors
// as ApiError carrying tapedeck's `{code, message, details}`.

const KEY = "tapedeck.managementToken";

export class ApiError extends Error {
  /** @param {number} status @param {string} message @param {string[]} details */
  constructor(status, message, details = []) {
    super(message);
    this.status = status;
    this.details = details;
  }
}

export const hasToken = () => Boolean(sessionStorage.getItem(KEY));
export const setToken = (t) => sessionStorage.setItem(KEY, t);
export const clearToken = () => sessionStorage.removeItem(KEY);

/**
 * @param {string} method
 * @param {string} path  e.g. "/v2/rooms"
 * @param {unknown} [body]
 * @param {{anonymous?: boolean}} [opts]
 */
export async function api(method, path, body, opts = {}) {
  const headers = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (!opts.anonymous) headers.authorization = `Bearer ${sessionStorage.getItem(KEY) ?? ""}`;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, "tapedeck cannot be reached", [
      `${method} ${path}: ${err.message}`,
      "check that the server is running and the network is up",
    ]);
  }
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  if (!res.ok) {
    throw new ApiError(
      res.status,
      json?.message ?? `${method} ${path} failed with HTTP ${res.status}`,
      Array.isArray(json?.details) ? json.details : [],
    );
  }
  return json;
}

/** Every page of a list endpoint (`{data, last}`), up to `max` items. */
export async function listAll(path, max = 500) {
  const out = [];
  let start = "";
  for (;;) {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api("GET", `${path}${sep}limit=100${start ? `&start=${encodeURIComponent(start)}` : ""}`);
    out.push(...(page.data ?? []));
    if (!page.last || out.length >= max) return out;
    start = page.last;
  }
}

/**
 * Every room, enabled or not, newest first: GET /v2/rooms lists the enabled rooms unless asked for
 * `enabled=false` (100ms's default), so this asks for both.
 */
export async function listAllRooms(max = 500) {
  const [on, off] = await Promise.all([listAll("/v2/rooms?enabled=true", max), listAll("/v2/rooms?enabled=false", max)]);
  return [...on, ...off].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)).slice(0, max);
}

/**
 * One page of a list endpoint, newest first (`order=desc`), filtered by `query`; `start` is the
 * previous page's `last` (the next page is older than it).
 */
export function newestPage(path, limit, start = "", query = {}) {
  return api("GET", `${path}?${new URLSearchParams({ ...query, order: "desc", limit: String(limit), ...(start ? { start } : {}) })}`);
}
