// The public API as the page uses it: fetch with the user's key, and errors told in words.

export class ApiError extends Error {
  constructor(status, code, message, advice) {
    super(message);
    this.status = status;
    this.code = code;
    this.advice = advice;
  }
  get text() {
    return this.advice ? `${this.message} ${this.advice}` : this.message;
  }
}

// The details the message does not already say.
function detailsText(details, message) {
  if (!Array.isArray(details)) return "";
  const extra = details.map((d) => `${d.field}: ${d.problem}`).filter((d) => !message.includes(d));
  return extra.length ? ` (${extra.join("; ")})` : "";
}

// What an error answer means to a person, and what to do about it (pure: unit-tested).
export function describeError(status, body, retryAfterS) {
  const err = (body && body.error) || {};
  const code = err.code || "";
  const message = (err.message || "").trim();
  const details = detailsText(err.details, message);
  const said = message ? `: ${message}${details}` : details;
  const wait = retryAfterS ? `Try again in ${retryAfterS} s.` : "Try again in a moment.";
  switch (status) {
    case 400:
      return new ApiError(status, code, `The server refused the request${said}.`, "Fix what it names and try again.");
    case 401:
      return new ApiError(status, code, "This API key was not accepted (401 unauthorized).",
        "Check it for typos, or ask the operator for a new one (throwbox keys create).");
    case 404:
      return new ApiError(status, code, `Not found${said}.`, "");
    case 413:
      return new ApiError(status, code, `Too large${said}.`, "Make the files or the input smaller.");
    case 415:
      return new ApiError(status, code, `The server wants JSON${said}.`, "");
    case 422:
      return new ApiError(status, code, `That language or version is not installed${said}.`,
        "Pick one from the list.");
    case 429:
      if (code === "rate_limited") {
        return new ApiError(status, code, "Your key has started as many runs this minute as it may.", wait);
      }
      return new ApiError(status, code, "Your key already has as many runs going as it may.",
        `Stop one or wait for it to finish. ${wait}`);
    case 503:
      return new ApiError(status, code, `The service is busy or a part of it is down${said}.`, wait);
    default:
      return new ApiError(status, code, `The server answered ${status}${said}.`, "");
  }
}

export class Api {
  constructor(base = "") {
    this.base = base;
    this.key = "";
  }

  async call(method, path, body, { auth = true } = {}) {
    const headers = {};
    if (auth) headers.Authorization = `Bearer ${this.key}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(this.base + path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, "network", "Could not reach the server.", "Check that the control plane is running, then try again.");
    }
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (!response.ok) {
      throw describeError(response.status, json, Number(response.headers.get("Retry-After")) || 0);
    }
    return json;
  }

  runtimes() { return this.call("GET", "/v1/runtimes"); }
  openapi() { return this.call("GET", "/v1/openapi.json", undefined, { auth: false }); }
  config() { return this.call("GET", "/playground/config.json", undefined, { auth: false }); }
  submit(request) { return this.call("POST", "/v1/runs", request); }
  cancel(runId) { return this.call("DELETE", `/v1/runs/${encodeURIComponent(runId)}`); }
  getRun(runId) { return this.call("GET", `/v1/runs/${encodeURIComponent(runId)}`); }
  saveFunction(name, spec) { return this.call("PUT", `/v1/functions/${encodeURIComponent(name)}`, spec); }
  invoke(name, input) { return this.call("POST", `/v1/functions/${encodeURIComponent(name)}/invoke`, { input }); }

  wsUrl(runId, after) {
    const loc = globalThis.location;
    const base = this.base || `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}`;
    const url = new URL(`${base.replace(/^http/, "ws")}/v1/runs/${encodeURIComponent(runId)}/ws`);
    url.searchParams.set("access_token", this.key);
    if (after > 0) url.searchParams.set("after", String(after));
    return url.toString();
  }
}

// Does the server's run request accept `tests` (the contract's "Test cases")? Read from its OpenAPI.
export function offersTests(openapi) {
  const schemas = openapi?.components?.schemas || {};
  let schema = null;
  const body = openapi?.paths?.["/v1/runs"]?.post?.requestBody?.content?.["application/json"]?.schema;
  if (body?.$ref) schema = schemas[body.$ref.split("/").pop()];
  else if (body) schema = body;
  schema = schema || schemas.RunRequest;
  return Boolean(schema?.properties?.tests);
}
