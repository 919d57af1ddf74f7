// Talking to the two APIs: reads go to the predict API (this page's origin), batches go to the ingest API.
const KEY = "svmflow.apiKey";
const ROLE = "svmflow.role";

export const session = {
  key: () => sessionStorage.getItem(KEY),
  role: () => sessionStorage.getItem(ROLE),
  isOperator: () => sessionStorage.getItem(ROLE) === "operator",
  signIn(key, role) {
    sessionStorage.setItem(KEY, key);
    sessionStorage.setItem(ROLE, role);
  },
  signOut() {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(ROLE);
  },
};

let configPromise = null;
export function loadConfig() {
  configPromise ??= fetch("/console/config.json").then((r) => r.json());
  return configPromise;
}

/** An answer that is not 2xx: carries the problem+json body (title, detail, field). */
export class ApiError extends Error {
  constructor(status, problem) {
    const detail = problem?.detail || problem?.title || `HTTP ${status}`;
    super(problem?.field ? `${detail} (${problem.field})` : detail);
    this.status = status;
    this.problem = problem;
  }
}

async function call(base, path, { method = "GET", body, headers = {}, key = session.key() } = {}) {
  const init = { method, headers: { ...headers }, cache: "no-store" };
  if (key) init.headers["X-API-Key"] = key;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(base + path, init);
  } catch (error) {
    throw new ApiError(0, { detail: `the API at ${base || location.origin} could not be reached` });
  }
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, data);
  return { status: response.status, data };
}

export const predict = (path, options) => call("", path, options);
export async function ingest(path, options) {
  const { ingest_url: base } = await loadConfig();
  return call(base, path, options);
}
