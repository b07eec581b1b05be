// Talks to Kiln's REST API on this origin. The login is an HttpOnly cookie the page never sees;
// every request says it comes from the console (the api takes no change on the cookie without it).

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.reason = body?.error ?? "Error";
  }
}

/** `fetch` of an API path, parsed as JSON; a 401 sends the whole console back to its login. */
export async function api(path, init = {}) {
  const response = await fetch(path, {
    ...init,
    credentials: "same-origin",
    headers: {
      "x-kiln-console": "1",
      ...(init.body ? { "content-type": "application/json" } : {}),
      ...init.headers,
    },
  });
  const text = await response.text();
  const body = text ? safeJson(text) : null;
  if (response.status === 401) {
    // Whatever was read ahead was refused too: read again once logged in.
    prefetched.clear();
    unauthorized();
  }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}

let unauthorized = () => {};
/** What the app does when the API says the login is gone (expired, revoked). */
export function whenUnauthorized(handler) {
  unauthorized = handler;
}

export const nsPath = (ns, rest = "") => `/apis/v1/namespaces/${encodeURIComponent(ns)}${rest}`;

/**
 * The namespace's live events (builds, image changes, deploys) from the api's server-sent events.
 * One EventSource per namespace, shared by every view; it reconnects by itself (an api restart),
 * and `ready` then tells the views to read their state afresh.
 */
const streams = new Map();
export function subscribe(ns, listener) {
  let stream = streams.get(ns);
  if (!stream) {
    const source = new EventSource(nsPath(ns, "/events"));
    stream = { source, listeners: new Set() };
    for (const type of ["ready", "build", "image", "deploy"])
      source.addEventListener(type, (event) => {
        const data = JSON.parse(event.data);
        for (const each of stream.listeners) each(type, data);
      });
    streams.set(ns, stream);
  }
  stream.listeners.add(listener);
  return () => {
    stream.listeners.delete(listener);
    if (stream.listeners.size === 0) {
      stream.source.close();
      streams.delete(ns);
    }
  };
}

/**
 * Reads started before the view that needs them exists (at the page's start, for the page the
 * URL names), so a first load waits for one round trip, not three in a row. Taken once.
 */
const prefetched = new Map();
export function prefetch(path) {
  const request = api(path);
  request.catch(() => {}); // whoever takes it sees the error
  prefetched.set(path, request);
}
export function takePrefetched(path) {
  const request = prefetched.get(path);
  prefetched.delete(path);
  return request;
}
