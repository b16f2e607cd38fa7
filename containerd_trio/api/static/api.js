// The REST API from the browser: the same requests curl sends (docs/api.md), from the page's own
// origin. Paths are relative, so the page also works behind a proxy that adds a prefix.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Whether an error is the abort we asked for (leaving a view), not a failure to show. */
export const isAbort = (error) => error?.name === "AbortError";

/** Wait `ms`, or less if `signal` aborts. */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/**
 * One request; the decoded JSON answer, or an ApiError carrying the daemon's own sentence.
 * `timeout` bounds it: on a connection that stalls, the page says so instead of waiting forever.
 */
export async function call(method, path, { body, signal, timeout = 30_000 } = {}) {
  const deadline = AbortSignal.timeout(timeout);
  const init = {
    method,
    cache: "no-store",
    signal: signal ? AbortSignal.any([signal, deadline]) : deadline,
  };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { "Content-Type": "application/json" };
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (deadline.aborted && !signal?.aborted) {
      throw new ApiError(0, `no answer from the daemon within ${timeout / 1000} s`);
    }
    if (isAbort(error)) throw error;
    throw new ApiError(0, "the daemon cannot be reached");
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    throw new ApiError(response.status, data?.error ?? `${response.status} ${response.statusText}`);
  }
  return data;
}

/** The path of a container's resource; ids are checked by the daemon, encoded here anyway. */
export const containerPath = (id, rest = "") => `containers/${encodeURIComponent(id)}${rest}`;

/**
 * Read an ndjson answer as it arrives, handing each chunk's complete records to `onRecords`
 * (an array, so a chatty stream costs one DOM update per chunk, not one per line). Resolves
 * when the answer ends; rejects if the connection breaks.
 */
export async function readRecords(response, onRecords) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    pending += value;
    const end = pending.lastIndexOf("\n");
    if (end < 0) continue;
    const records = [];
    for (const line of pending.slice(0, end).split("\n")) {
      if (line) records.push(JSON.parse(line));
    }
    pending = pending.slice(end + 1);
    if (records.length) onRecords(records);
  }
}

/** Delays between reconnections: quick at first, then no more often than every 15 s. */
export function backoff(attempt) {
  return Math.min(15_000, 500 * 2 ** Math.min(attempt, 5));
}
