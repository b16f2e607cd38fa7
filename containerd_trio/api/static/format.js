// Turning the API's figures into short text for people. Pure functions, no DOM.

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** 446464 -> "436 KiB". */
export function bytes(value) {
  if (value == null || !Number.isFinite(value)) return "—";
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

/** Milliseconds -> "3d 4h", "2h 5m", "4m 12s", "9s". */
export function duration(ms) {
  if (ms == null || !Number.isFinite(ms)) return "—";
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/**
 * The API's RFC 3339 times carry nanoseconds, more than Date reads everywhere: cut the
 * fraction to milliseconds first. Returns epoch milliseconds, or NaN.
 */
export function parseTime(text) {
  if (!text) return NaN;
  return Date.parse(text.replace(/(\.\d{3})\d+/, "$1"));
}

/**
 * An RFC 3339 time of the daemon's (up to nanoseconds) as nanoseconds since the epoch, a
 * BigInt, to order an event against a container's times exactly; null if none or unreadable.
 */
export function nanos(text) {
  const match = /^(.*:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(text ?? "");
  if (!match) return null;
  const ms = Date.parse(`${match[1]}${match[3]}`);
  if (!Number.isFinite(ms)) return null;
  return BigInt(ms) * 1_000_000n + BigInt((match[2] ?? "").padEnd(9, "0"));
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

/** Epoch ms -> local "17:01:31.804". */
export function clock(ms) {
  if (!Number.isFinite(ms)) return "";
  const t = new Date(ms);
  return `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}.${pad(t.getMilliseconds(), 3)}`;
}

/** Epoch ms -> local "2026-11-28 17:01:31". */
export function dateTime(ms) {
  if (!Number.isFinite(ms)) return "—";
  const t = new Date(ms);
  return (
    `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ` +
    `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}`
  );
}

/** An exit status as the shell gives it, with the signal spelt out: 137 -> "137 (SIGKILL)". */
// Linux's 31 standard signals, by number (x86 and arm alike), so that any of them is named.
const SIGNALS = [
  "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE",
  "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ",
  "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];
export function exitStatus(status) {
  if (status == null) return "";
  if (status === 255) return "255 (unknown)";
  const name = status > 128 ? SIGNALS[status - 129] : undefined;
  const signal = name && `SIG${name}`;
  return signal ? `${status} (${signal})` : String(status);
}

/**
 * The status a person is shown: the API's, but "restarting" for a stopped container whose
 * restart policy starts it again once its delay has passed (docker's Restarting).
 */
export function status(state) {
  return state.restarting ? "restarting" : state.status;
}

/** The restarting badge's tooltip: what it means in the API's terms. */
export const RESTARTING_TITLE = "stopped: its restart policy starts it again once its delay has passed";

/** A restart policy as docker's --restart says it: "always", "on-failure, at most 3". */
export function restartPolicy(policy) {
  return policy.maximumRetryCount ? `${policy.name}, at most ${policy.maximumRetryCount}` : policy.name;
}

/** Labels as "key=value" strings, sorted by key. */
export function labelPairs(labels) {
  return Object.keys(labels || {})
    .sort()
    .map((key) => `${key}=${labels[key]}`);
}

/** A command line from args, quoting the parts a shell would split. */
export function commandLine(args) {
  return (args || []).map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(" ");
}

/** A percentage with one decimal below 10, none above. */
export function percent(value) {
  if (value == null || !Number.isFinite(value)) return "—";
  return `${value.toFixed(value < 10 ? 1 : 0)}%`;
}

/**
 * The empty list's example (README's walk-through), with the address of the daemon that
 * `location` (the page's) names. Over TLS the URL says https://: curl sends plain HTTP to an
 * address without a scheme, which a TLS listener refuses ("Client sent an HTTP request to an
 * HTTPS server"); until 2026-12-06 the example gave the bare address there too.
 */
export function firstContainerExample({ protocol, host }) {
  const address = protocol === "https:" ? `https://${host}` : host || "localhost:8888";
  return [
    ".venv/bin/python examples/make-bundle.py /containers/web",
    `curl -XPOST ${address}/containers/web -d '{"bundlePath": "/containers/web"}'`,
  ].join("\n");
}
