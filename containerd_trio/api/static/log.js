// A container's log, followed live: GET /containers/{id}/logs?follow=true (docs/logs.md).
//
// Records are {stream, timestamp, data} and, from daemons that tag them, pid. Their data is
// put in the document as text, never parsed as markup: a container printing "<script>" shows
// those characters. When the answer ends while the container still runs (the connection broke),
// the log is asked for again with a tail, and the records shown already are dropped: those
// older than the last one shown, and as many of its timestamp as were shown (records share
// timestamps).

import { backoff, containerPath, isAbort, readRecords, sleep } from "./api.js";
import { clock, parseTime } from "./format.js";

const FIRST_TAIL = 500;
const RESUME_TAIL = 2000;
const KEPT = 5000; // lines in the document; older ones are dropped from the view

const atBottom = (element) => element.scrollTop + element.clientHeight >= element.scrollHeight - 8;

export class LogView {
  /** `isStopped()` tells whether the container has stopped (then an ended answer is the end). */
  constructor({ element, status, streamButtons, pidSelect, isStopped }) {
    this.el = element;
    this.statusEl = status;
    this.pidSelect = pidSelect;
    this.isStopped = isStopped;
    this.controller = null;
    this.pids = new Set();
    // The line each process's stream is still writing (its last record had no newline: a
    // line past 16 KiB cut into records, a prompt), by "pid/stream": the next record of that
    // stream goes on in it, so a long line reads whole, as `ctr-trio logs` and docker print it.
    this.open = new Map();
    // Whether the view follows the end: until the reader scrolls up, and again once they are
    // back at the bottom. Kept apart from the scroll position, which a view not laid out yet
    // (a container's page opened by its address, before the state is in) does not have.
    this.following = true;
    element.addEventListener(
      "scroll",
      () => {
        if (element.clientHeight > 0) this.following = atBottom(element);
      },
      { passive: true },
    );
    for (const button of streamButtons) {
      button.addEventListener("click", () => {
        element.dataset.stream = button.dataset.stream;
        for (const other of streamButtons) other.setAttribute("aria-pressed", String(other === button));
      });
    }
    pidSelect.addEventListener("change", () => this._filterPid());
  }

  /** Follow container `id`'s log from its last records on, until stop(). */
  start(id) {
    this.stop();
    this.el.replaceChildren();
    this.following = true;
    this.pids.clear();
    this.open.clear();
    this.pidSelect.replaceChildren(new Option("all processes", ""));
    this.pidSelect.hidden = true;
    this.controller = new AbortController();
    this._follow(id, this.controller.signal);
  }

  stop() {
    this.controller?.abort();
    this.controller = null;
  }

  _status(text) {
    this.statusEl.textContent = text;
  }

  async _follow(id, signal) {
    let last = null; // the timestamp of the last record shown
    let atLast = 0; // how many records shown have that timestamp
    for (let attempt = 0; !signal.aborted; ) {
      const tail = last === null ? FIRST_TAIL : RESUME_TAIL;
      // Records share a timestamp (those of one read of a pipe): the answer repeats the ones
      // of the last timestamp shown first, then goes on with those not shown yet.
      let skip = atLast;
      this._status(last === null ? "loading…" : "reconnecting…");
      try {
        const response = await fetch(containerPath(id, `/logs?follow=true&tail=${tail}`), {
          cache: "no-store",
          signal,
        });
        if (response.status === 404) {
          this._status("the container is gone");
          return;
        }
        if (!response.ok) throw new Error(`GET logs answered ${response.status}`);
        attempt = 0;
        this._status(this.isStopped() ? "" : "following");
        await readRecords(response, (records) => {
          const fresh = [];
          for (const record of records) {
            if (last !== null && record.timestamp < last) continue; // shown already
            if (record.timestamp === last && skip > 0) {
              skip -= 1; // shown already
              continue;
            }
            atLast = record.timestamp === last ? atLast + 1 : 1;
            last = record.timestamp;
            fresh.push(record);
          }
          if (fresh.length) this._append(fresh);
        });
        if (this.isStopped()) {
          this._status("end of log: the container has stopped");
          return;
        }
      } catch (error) {
        if (signal.aborted) return;
        if (!isAbort(error)) console.warn("log stream:", error);
      }
      await sleep(backoff(attempt), signal);
      attempt += 1;
    }
  }

  _append(records) {
    const el = this.el;
    const fragment = document.createDocumentFragment();
    const pidFilter = this.pidSelect.value;
    for (const record of records) {
      const key = `${record.pid ?? ""}/${record.stream}`;
      const ends = record.data.endsWith("\n");
      const data = ends ? record.data.slice(0, -1) : record.data;
      const open = this.open.get(key);
      // A line dropped from the view (past KEPT) is not taken up again: its rest starts anew.
      if (open && (open.isConnected || fragment.contains(open))) {
        open.textContent += data;
        if (ends) this.open.delete(key);
        continue;
      }
      const line = document.createElement("div");
      line.className = `line ${record.stream === "stderr" ? "stderr" : "stdout"}`;
      const time = document.createElement("span");
      time.className = "line-time";
      time.textContent = clock(parseTime(record.timestamp));
      time.title = record.timestamp;
      const stream = document.createElement("span");
      stream.className = "line-stream";
      stream.textContent = record.stream === "stderr" ? "err" : "out";
      line.append(time, stream);
      if (record.pid != null) {
        const pid = document.createElement("span");
        pid.className = "line-pid";
        pid.textContent = String(record.pid);
        line.dataset.pid = String(record.pid);
        line.append(pid);
        this._knowPid(record.pid);
        if (pidFilter && line.dataset.pid !== pidFilter) line.hidden = true;
      }
      const text = document.createElement("span");
      text.className = "line-data";
      text.textContent = data;
      line.append(text);
      fragment.append(line);
      if (ends) this.open.delete(key);
      else this.open.set(key, text);
    }
    el.append(fragment);
    let excess = el.childElementCount - KEPT;
    while (excess-- > 0) el.firstElementChild.remove();
    // Stay at the bottom if the reader is there; leave them where they are if they scrolled up.
    if (this.following) el.scrollTop = el.scrollHeight;
  }

  _knowPid(pid) {
    if (this.pids.has(pid)) return;
    this.pids.add(pid);
    this.pidSelect.append(new Option(`pid ${pid}`, String(pid)));
    this.pidSelect.hidden = false;
  }

  _filterPid() {
    const wanted = this.pidSelect.value;
    for (const line of this.el.children) line.hidden = Boolean(wanted) && line.dataset.pid !== wanted;
  }
}
