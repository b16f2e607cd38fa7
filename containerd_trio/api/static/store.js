// What the page knows: the machine and every container, kept current from the event stream.
//
// A snapshot (GET /state, or GET /containers/{id} for one container) and the events come over
// different connections, so their order is not known. The store therefore holds back the events
// that arrive while a snapshot is being fetched and applies them, in order, on top of it. Each
// event applied to a snapshot that already shows it leaves the snapshot as it was (a pause on a
// paused container, the exit of a stopped one), so the result is the daemon's state whatever
// the interleaving.

import { ApiError, call, containerPath } from "./api.js";
import { nanos, parseTime, RESTARTING_TITLE, status as apiStatus } from "./format.js";

/** How long the snapshot (GET /state, its whole answer read) may take: api.js's default. */
const STATE_TIMEOUT_MS = 30_000;

/**
 * A container as the page holds it: the API's object (`info`) and what the page adds to it.
 * Views read entries; only the store writes them.
 */
function entry(info, previous) {
  return {
    info,
    id: info.id,
    createdMs: parseTime(info.createdAt),
    // The current (or last) run's start and, stopped, its init's exit, as the API says them
    // (state.startedAt, state.finishedAt): a restart by its policy starts a run of its own,
    // createdAt staying. A daemon older than startedAt ran its only run from createdAt.
    startedMs: parseTime(info.state.startedAt ?? info.createdAt),
    finishedMs: parseTime(info.state.finishedAt),
    // The daemon's word (state.oomKilled: an OOM kill in this run, the last once stopped),
    // so that a page opened after the oom event shows it, and a new run (a start again, a
    // restart, whose placeholder has none) begins without; an oom event sets it meanwhile.
    oom: info.state.oomKilled ?? false,
    stats: previous?.stats ?? null,
    placeholder: false,
  };
}

export class Store {
  constructor() {
    this.machine = null;
    /** id -> entry */
    this.containers = new Map();
    /** Server clock minus ours, from the Date header, so uptimes are right on a skewed client. */
    this.skewMs = 0;
    this.timings = { stateToList: null, eventApply: { count: 0, totalMs: 0, maxMs: 0 } };
    this._changeListeners = new Set();
    this._eventListeners = new Set();
    this._held = [];
    this._fetching = 0;
    this._toFetch = new Set();
    this._fetchTimer = 0;
    /** id -> when the grace of a stop the page asked for ends (performance.now(), in ms). */
    this.stopping = new Map();
  }

  /**
   * The page asked the daemon to stop this container (a delete: SIGTERM, then SIGKILL after
   * `seconds`): until its answer, the container is shown stopping, with the grace left.
   */
  markStopping(id, seconds) {
    this.stopping.set(id, performance.now() + seconds * 1000);
    this._changed([id]);
  }

  /** The stop the page asked for has its answer. */
  doneStopping(id) {
    if (this.stopping.delete(id)) this._changed([id]);
  }

  /**
   * What a badge says of a container: its status as the API gives it (restarting too), or
   * `stopping` while a stop the page asked for waits out its grace, with a `note` of the
   * seconds left before its SIGKILL (in place of its actions). `status` names the badge's
   * look and the actions offered.
   */
  badge(entry) {
    const status = apiStatus(entry.info.state);
    const until = this.stopping.get(entry.id);
    if (until === undefined || entry.info.state.status === "stopped") {
      return { status, text: status, title: status === "restarting" ? RESTARTING_TITLE : "" };
    }
    const left = Math.ceil((until - performance.now()) / 1000);
    return {
      status: "stopping",
      text: "stopping",
      title: "SIGTERM sent: SIGKILL once its grace has passed, unless it exits first",
      note: left > 0 ? `SIGKILL in ${left} s` : "SIGKILL sent",
    };
  }

  /** `listener({ids, reset})`: which containers changed; `reset` when the whole set did. */
  onChange(listener) {
    this._changeListeners.add(listener);
    return () => this._changeListeners.delete(listener);
  }

  /** `listener(event)`, for each event once applied (the feed, the open container). */
  onEvent(listener) {
    this._eventListeners.add(listener);
    return () => this._eventListeners.delete(listener);
  }

  _changed(ids, reset = false) {
    for (const listener of this._changeListeners) listener({ ids, reset });
  }

  now() {
    return Date.now() + this.skewMs;
  }

  /** Replace everything with a fresh GET /state (first load, and after a reconnection). */
  async load() {
    await this._snapshot(async () => {
      const started = performance.now();
      // A deadline, as every other request has (api.js's call): on a connection that stalls,
      // the events held meanwhile would otherwise wait behind it for good, the page saying
      // `live` all along. Past it the page says so and starts over (app.js).
      const deadline = AbortSignal.timeout(STATE_TIMEOUT_MS);
      let response;
      let state;
      try {
        response = await fetch("state", { cache: "no-store", signal: deadline });
        if (!response.ok) {
          // The daemon's own sentence, as call() gives it (a daemon shutting down answers 503
          // "the daemon is shutting down"); the bare status only for an answer with none.
          const answer = await response.json().catch(() => null);
          throw new ApiError(response.status, answer?.error ?? `GET /state answered ${response.status}`);
        }
        state = await response.json();
      } catch (error) {
        if (deadline.aborted) {
          throw new ApiError(0, `no answer from the daemon within ${STATE_TIMEOUT_MS / 1000} s`);
        }
        throw error;
      }
      const received = performance.now();
      const serverDate = Date.parse(response.headers.get("Date") ?? "");
      // The Date header has whole seconds: trust it only for skews larger than that.
      const skew = Number.isFinite(serverDate) ? serverDate - Date.now() : 0;
      this.skewMs = Math.abs(skew) > 2000 ? skew : 0;
      this.machine = state.machine;
      const next = new Map();
      for (const info of state.containers) next.set(info.id, entry(info, this.containers.get(info.id)));
      this.containers = next;
      this._changed([], true);
      this.lastLoad = { started, received, count: state.containers.length };
    });
  }

  /** Fetch these containers again soon, together (one GET /state when there are many). */
  refetch(id) {
    this._toFetch.add(id);
    if (!this._fetchTimer) this._fetchTimer = setTimeout(() => this._refetchNow(), 50);
  }

  async _refetchNow() {
    this._fetchTimer = 0;
    const ids = [...this._toFetch];
    this._toFetch.clear();
    try {
      if (ids.length > 20) {
        await this.load();
        return;
      }
      await this._snapshot(async () => {
        const answers = await Promise.all(
          ids.map((id) => call("GET", containerPath(id)).catch((error) => error)),
        );
        const changed = [];
        let reset = false;
        answers.forEach((answer, n) => {
          const id = ids[n];
          if (answer instanceof ApiError && answer.status === 404) {
            // Gone: its delete event says so, or said so of a container the page showed
            // live (the events held meanwhile are applied after this answer).
            if (this.containers.delete(id)) reset = true;
            return;
          }
          if (answer instanceof Error) throw answer;
          this.containers.set(id, entry(answer, this.containers.get(id)));
          changed.push(id);
        });
        this._changed(changed, reset);
      });
    } catch (error) {
      // Leave the placeholders; the next reconnection reloads everything.
      console.warn("refetch failed", error);
    }
  }

  async _snapshot(fetchAndApply) {
    this._fetching += 1;
    try {
      await fetchAndApply();
    } finally {
      this._fetching -= 1;
      if (this._fetching === 0) {
        const held = this._held;
        this._held = [];
        this._applyAll(held);
      }
    }
  }

  /** A batch of events from the stream: applied now, or after the snapshot being fetched. */
  receive(events) {
    if (this._fetching > 0) this._held.push(...events);
    else this._applyAll(events);
  }

  /** Apply events in order, each knowing those after it in the batch (`_update`). */
  _applyAll(events) {
    events.forEach((event, n) => this._apply(event, events, n + 1));
  }

  _apply(event, batch = [], next = 0) {
    const started = performance.now();
    const changed = this._update(event, batch, next);
    if (changed === "reset") this._changed([], true);
    else if (changed) this._changed([event.id]);
    for (const listener of this._eventListeners) listener(event);
    const took = performance.now() - started;
    const figures = this.timings.eventApply;
    figures.count += 1;
    figures.totalMs += took;
    figures.maxMs = Math.max(figures.maxMs, took);
  }

  /**
   * Whether `event` is older than what `current` shows, and so already in it: an event of a
   * run before its current one (published before the run's start), or, stopped, of its last
   * run up to its init's exit. The events the page replays (`since`, on every load and
   * reconnection) over a snapshot that has them would otherwise take it back through the
   * past: a container restarting by its policy shown running and stopped again, until read
   * again (docs/page.md). Timestamps strictly increase along the stream, so an event
   * published after the snapshot is later than both.
   */
  _older(event, current) {
    const published = nanos(event.timestamp);
    if (published === null) return false;
    const started = nanos(current.info.state.startedAt ?? current.info.createdAt);
    if (started !== null && published < started) return true;
    if (current.info.state.status !== "stopped") return false;
    // An exit's own time (the event's may be later, stamped after a later event).
    const at = event.type === "exit" ? (nanos(event.exitedAt) ?? published) : published;
    const finished = nanos(current.info.state.finishedAt);
    return finished !== null && at <= finished;
  }

  /**
   * Whether the init `pid` of a start of `current`, stopped, exits in `batch` (from `next`
   * on) at its `finishedAt` or before: the run the entry shows, started and ended already. An
   * init that exits before its start is published is stamped after it, so that start can
   * be later than the exit (state.finishedAt) and yet be of the run shown.
   */
  _endsAsShown(current, pid, batch, next) {
    const finished = nanos(current.info.state.finishedAt);
    if (finished === null) return false;
    for (let n = next; n < batch.length; n += 1) {
      const later = batch[n];
      if (later.id !== current.id || later.type !== "exit" || later.pid !== pid) continue;
      const at = nanos(later.exitedAt ?? later.timestamp);
      return at !== null && at <= finished;
    }
    return false;
  }

  /**
   * Apply one event to the entries; whether anything a view shows changed. `batch[next...]`
   * are the events that come after it, applied with it.
   */
  _update(event, batch = [], next = 0) {
    const current = this.containers.get(event.id);
    if (current && this._older(event, current)) return false;
    switch (event.type) {
      case "start-container":
      case "restore": {
        // A container the snapshot already has: nothing to do. (A start with a body under
        // the id of a stopped container comes after that one's delete event, which removed
        // it.)
        if (current) {
          // But a restart of its policy's, or a start again (ctr-trio start, restart), which
          // publish no delete: the same container, running again (a new init, a run of its
          // own, with no finish yet; createdAt stays); its restartCount, and its run's own
          // start (a little before its event's), come with its object, fetched again. A
          // replayed start of the run shown changes nothing. (Until 2026-12-06 a start
          // again came after a delete; this looked for a policy, and a start again of a
          // container without one, the same since, stayed stopped here.)
          const restart =
            event.type === "start-container" &&
            current.info.state.status === "stopped" &&
            current.info.processes[0]?.pid !== event.pid;
          // Not the replayed start of the run shown, whose exit comes after it.
          if (!restart || this._endsAsShown(current, event.pid, batch, next)) return false;
          const info = {
            ...current.info,
            state: { status: "running", startedAt: event.timestamp },
            processes: event.pid ? [{ pid: event.pid, args: [] }] : [],
          };
          const restarted = entry(info, current);
          restarted.placeholder = true; // until its object arrives; the open log starts again
          this.containers.set(event.id, restarted);
          this.refetch(event.id);
          return true;
        }
        const info = {
          id: event.id,
          bundlePath: "",
          state: { status: "running", startedAt: event.timestamp },
          processes: event.pid ? [{ pid: event.pid, args: [] }] : [],
          createdAt: event.timestamp,
          labels: event.labels ?? {}, // as they were at the event; the object says them again
        };
        const created = entry(info);
        created.placeholder = true; // until its full object arrives
        this.containers.set(event.id, created);
        this.refetch(event.id);
        return "reset"; // the list's membership changed
      }
      case "exit": {
        if (!current) return false;
        const init = current.info.processes[0]?.pid;
        if (event.pid !== init) {
          if (!current.info.processes.some((p) => p.pid === event.pid)) return false;
          current.info = { ...current.info, processes: current.info.processes.filter((p) => p.pid !== event.pid) };
          return true;
        }
        // Its finishedAt is its exit's time: the event's exitedAt (its timestamp, which is
        // later when the stream had to stamp it after a later event, for an exit without
        // one: kept from before that field); none for an exit no daemon saw (unseen: it
        // ended while none ran, its timestamp is when it was found), as the API leaves it
        // out. The run's start stays.
        const finishedAt = event.unseen ? undefined : (event.exitedAt ?? event.timestamp);
        const state = {
          status: "stopped",
          exitStatus: event.status,
          startedAt: current.info.state.startedAt,
        };
        if (finishedAt !== undefined) state.finishedAt = finishedAt;
        // Whether its restart policy starts it again is the daemon's to say (a user's stop,
        // on-failure's count and exit status decide it): the exit says so, and it is shown
        // restarting at once. Read again all the same, for its restart count.
        if (event.restarting) state.restarting = true;
        current.info = { ...current.info, state, processes: [] };
        current.finishedMs = parseTime(finishedAt);
        current.stats = null;
        if (current.info.restartPolicy) this.refetch(event.id);
        return true;
      }
      case "start-process": {
        if (!current || current.info.processes.some((p) => p.pid === event.pid)) return false;
        this.refetch(event.id); // for the new process's args, user and cwd
        return false;
      }
      case "pause":
      case "resume": {
        if (!current || current.info.state.status === "stopped") return false;
        const status = event.type === "pause" ? "paused" : "running";
        if (current.info.state.status === status) return false;
        current.info = { ...current.info, state: { ...current.info.state, status } }; // its run's times stay
        return true;
      }
      case "restart-cancelled":
      case "restart-failed": {
        // Called off elsewhere (ctr-trio stop, a policy of "no", ...), or its start failed:
        // stopped as it was, with its exit status, and no longer restarting. Its delete or a
        // new start, if one called it off, comes next. A replayed one over a snapshot taken
        // after it changes nothing.
        if (!current?.info.state.restarting) return false;
        const state = { ...current.info.state };
        delete state.restarting;
        current.info = { ...current.info, state };
        return true;
      }
      case "update": {
        // A change of its settings made elsewhere (ctr-trio update: limits, restart policy,
        // autoRemove): read it again, for the policy it shows. (Until 2026-12-06 only its
        // limits published one, and the page showed the policy it had when it read it.)
        if (current) this.refetch(event.id);
        return false;
      }
      case "oom": {
        if (!current || current.oom) return false;
        current.oom = true;
        return true;
      }
      case "delete": {
        if (!current) return false;
        if (current.info.state.status !== "stopped") {
          // A container's delete comes after its init's exit: one for a live container is
          // that of the one it replaced under its id (a start with a body: its delete and
          // its start, replayed over a snapshot that has the new one). The daemon says which:
          // read again, it is gone (404) or not.
          this.refetch(event.id);
          return false;
        }
        this.containers.delete(event.id);
        return "reset";
      }
      default:
        return false; // checkpoint, and types a newer daemon may add
    }
  }

  /** The answer of an action (pause, resume) is news too: do not wait for its event. */
  applyAnswer(info) {
    const current = this.containers.get(info.id);
    if (!current || this._fetching > 0) return;
    if (current.info.state.status === "stopped" && info.state.status !== "stopped") return;
    this.containers.set(info.id, entry(info, current));
    this._changed([info.id]);
  }

  /** Remove a container the page just deleted (its delete event will find it gone). */
  forget(id) {
    if (this.containers.delete(id)) this._changed([], true);
  }

  /**
   * One sample of a live container's cgroup figures. CPU is shown as the share of one CPU
   * used since the previous sample, as top shows it (so 200% on two busy CPUs).
   */
  async sampleStats(id, signal) {
    const current = this.containers.get(id);
    if (!current || current.info.state.status === "stopped") return;
    let figures;
    try {
      figures = await call("GET", containerPath(id, "/stats"), { signal, timeout: 10_000 });
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) return; // it stopped meanwhile
      throw error;
    }
    const now = performance.now();
    const latest = this.containers.get(id);
    if (latest !== current) return; // replaced or deleted while we asked
    const cpuTotal = figures.cpu?.usage?.total;
    const before = current.stats;
    let cpuPercent = before?.cpuPercent ?? null;
    if (before?.cpuTotal != null && cpuTotal != null && now > before.sampledAt) {
      cpuPercent = ((cpuTotal - before.cpuTotal) / 1e6 / (now - before.sampledAt)) * 100;
    }
    const usage = figures.memory?.usage ?? {};
    current.stats = {
      sampledAt: now,
      cpuTotal,
      cpuPercent: cpuPercent == null ? null : Math.max(0, cpuPercent),
      memory: usage.usage ?? null,
      memoryMax: usage.max ?? null,
      // runc reports "no limit" as the largest page-aligned int64: show none above 2^60.
      memoryLimit: usage.limit != null && usage.limit < 2 ** 60 ? usage.limit : null,
      pids: figures.pids?.current ?? null,
    };
    this._changed([id]);
  }

  counts() {
    const counts = { all: 0, running: 0, paused: 0, stopped: 0 };
    for (const { info } of this.containers.values()) {
      counts.all += 1;
      counts[info.state.status] = (counts[info.state.status] ?? 0) + 1;
    }
    return counts;
  }
}
