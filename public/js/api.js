// The one place that talks HTTP to Kennel's REST API: JSON in and out, errors as ApiError, the access token on
// every request that changes something.

const TOKEN_KEY = "kennel.token";

export function storedToken() {
  return localStorage.getItem(TOKEN_KEY) ?? "";
}

export function storeToken(token) {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

/** A non-2xx answer: `status`, the API's `code` and `message`, and for a 422 the `field` it names. */
class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }

  /** The message a person should read; a 401 says what to do about it. */
  get explanation() {
    if (this.status === 401) return `Not allowed (401): ${this.message}. Enter the server's API token at the top.`;
    return this.message;
  }
}

/**
 * Sends a request and returns the decoded JSON (null for an empty body).
 * `body` is sent as JSON unless it is a Blob (a file upload, sent raw with its own type) or FormData (multipart,
 * the browser writes the boundary).
 */
export async function request(method, path, body) {
  const headers = {};
  if (method !== "GET") {
    const token = storedToken();
    if (token) headers.Authorization = `Bearer ${token}`;
  }
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body instanceof Blob) {
    payload = body;
    headers["Content-Type"] = body.type || "application/octet-stream";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload });
  } catch (error) {
    throw new ApiError(0, "network", `cannot reach the server (${error.message})`);
  }
  const text = await response.text();
  if (!response.ok) throw errorFrom(response, text);
  return text ? JSON.parse(text) : null;
}

function errorFrom(response, text) {
  let code = `http_${response.status}`;
  let message = `${response.status} ${response.statusText}`;
  try {
    const error = JSON.parse(text).error;
    if (error) ({ code, message } = error);
  } catch {
    // Not the API's JSON error shape (a proxy's page, say): keep the status line.
  }
  return new ApiError(response.status, code, message, response.headers.get("X-Invalid-Field") ?? undefined);
}

export const get = (path) => request("GET", path);
export const post = (path, body) => request("POST", path, body);

/** Every item of a paged list endpoint (`limit`/`after`, id cursors), in id order. */
export async function getAll(path, cursor = (item) => item.id) {
  const limit = 1000;
  const separator = path.includes("?") ? "&" : "?";
  const items = [];
  for (let after = ""; ;) {
    const page = await get(`${path}${separator}limit=${limit}${after ? `&after=${encodeURIComponent(after)}` : ""}`);
    items.push(...page);
    if (page.length < limit) return items;
    after = String(cursor(page[page.length - 1]));
  }
}

/** What to tell a person about `error`: the API's explanation when it came from the API. */
export function explain(error) {
  return error instanceof ApiError ? error.explanation : error.message;
}
