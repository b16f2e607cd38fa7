// The event stream, followed for as long as the page is open.
//
// GET /events is ndjson (docs/events.md), read with fetch as it arrives. When the connection
// breaks (a daemon restart, a flaky network, a laptop waking up), the page asks again with
// `since` set to the last timestamp it saw: the daemon replays what happened meanwhile from its
// kept log, and the first event of the replay, the one already seen, is dropped. Timestamps are
// unique and all written the same way, so comparing them as strings orders them.

import { backoff, isAbort, readRecords, sleep } from "./api.js";

/** How far back the first connection replays, to fill the feed with the recent past. */
const FIRST_REPLAY_MS = 10 * 60 * 1000;

/** The daemon's own event as its stop begins (docs/events.md): sent live, never replayed. */
export const DAEMON_STOPPING = "daemon-stopping";

/**
 * Whether a refusal says the daemon stops: its 503 "the daemon is shutting down"
 * (docs/reliability.md), not the 503 of a reload's hand-over ("the daemon is handing over to
 * a new server: retry in a moment"), after which the same daemon serves on.
 */
export const saysStopping = (status, message) =>
  status === 503 && String(message ?? "").includes("shutting down");

export class EventStream {
  /**
   * `onConnected({resumed})` runs once the daemon has registered the stream (its answer's
   * headers are in): a snapshot taken from then on misses no event. `onEvents(events)` gets
   * each batch, `onStatus(state, detail)` the connection's state for the header: `live`,
   * `connecting`, `reconnecting`, `stopping` (the daemon said it stops: its daemon-stopping,
   * or a 503 to the stream), `offline` (with the delay before the next try), and `stopped`
   * (the same, once a daemon that said it stops has ended the stream or cannot be reached).
   */
  constructor({ onConnected, onEvents, onStatus }) {
    this.onConnected = onConnected;
    this.onEvents = onEvents;
    this.onStatus = onStatus;
    this.last = null;
    this._controller = new AbortController();
    this._connection = null;
    this._wake = null;
    /** The daemon said it stops, and no daemon has served the stream since. */
    this.stopping = false;
  }

  /** The daemon said it stops (its event, or a 503 to one of the page's requests). */
  daemonStopping() {
    if (this.stopping) return;
    this.stopping = true;
    this.onStatus("stopping");
  }

  /** Reconnect now rather than after the current delay (the network came back). */
  wake() {
    this._wake?.abort();
  }

  /** Drop the current connection and make a new one (its snapshot could not be read). */
  reconnect() {
    this._connection?.abort();
  }

  stop() {
    this._controller.abort();
  }

  async run() {
    const signal = this._controller.signal;
    let attempt = 0;
    while (!signal.aborted) {
      const since = this.last ?? new Date(Date.now() - FIRST_REPLAY_MS).toISOString();
      this.onStatus(attempt === 0 && this.last === null ? "connecting" : "reconnecting");
      this._connection = new AbortController();
      let refused = false; // a stop's 503: the daemon is stopping, not stopped yet
      try {
        const response = await fetch(`events?since=${encodeURIComponent(since)}`, {
          cache: "no-store",
          signal: AbortSignal.any([signal, this._connection.signal]),
        });
        if (!response.ok) {
          // A stopping daemon answers every new request 503 (docs/reliability.md), the
          // stream's too, until it has stopped and its address refuses connections. A reload
          // answers 503 too during its hand-over: the daemon is not stopping then.
          const answer = await response.json().catch(() => null);
          refused = saysStopping(response.status, answer?.error);
          if (refused) this.stopping = true;
          throw new Error(`GET /events answered ${response.status}`);
        }
        attempt = 0;
        this.stopping = false;
        this.onStatus("live");
        const resumed = this.last !== null;
        // Not awaited: the snapshot it takes holds back the events that arrive meanwhile.
        this.onConnected({ resumed });
        await readRecords(response, (events) => {
          const fresh = this.last === null ? events : events.filter((e) => e.timestamp > this.last);
          if (fresh.length === 0) return;
          this.last = fresh[fresh.length - 1].timestamp;
          if (fresh.some((event) => event.type === DAEMON_STOPPING)) this.daemonStopping();
          this.onEvents(fresh);
        });
        // A clean end: the daemon has stopped (after its daemon-stopping), or cut us off as
        // too slow, or handed over to a new server (a reload). Ask again.
      } catch (error) {
        if (signal.aborted) return;
        if (!isAbort(error)) console.warn("event stream:", error);
      }
      const delay = backoff(attempt);
      attempt += 1;
      // Stopping still while it answers 503; stopped once the stream has ended or the
      // address refuses connections (a new daemon that serves there makes it live again).
      this.onStatus(this.stopping ? (refused ? "stopping" : "stopped") : "offline", delay);
      this._wake = new AbortController();
      await sleep(delay, AbortSignal.any([signal, this._wake.signal]));
    }
  }
}
