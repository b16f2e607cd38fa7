// The list of containers: a virtual list, so a thousand containers cost what thirty do.
//
// Only the rows in view (and a few around them) exist in the document; scrolling moves them to
// other containers. An event changes one row in place, at once; only a change of membership
// (a start, a delete, a filter) recomputes the order, once per frame however many came.
// Live figures (memory, CPU) are fetched for the rows in view only: each costs the daemon a
// `runc events --stats`, so asking for a thousand would load the machine for nothing.

import { actionsFor, LABELS, perform, replaceActions, stopNote } from "./actions.js";
import * as fmt from "./format.js";

export const ROW_HEIGHT = 40; // keep equal to .row's height in style.css
const OVERSCAN = 8;
const STATS_EVERY_MS = 5000;
const STATS_IN_FLIGHT = 2;
const ROW_ACTIONS = new Set(["pause", "resume", "kill", "delete"]);
const STATUS_RANK = { running: 0, paused: 1, restarting: 2, stopped: 3 };
const collator = new Intl.Collator(undefined, { numeric: true });

const live = (entry) => (entry.info.state.status === "stopped" ? 0 : 1);

const COMPARE = {
  id: (a, b) => collator.compare(a.id, b.id),
  status: (a, b) =>
    STATUS_RANK[fmt.status(a.info.state)] - STATUS_RANK[fmt.status(b.info.state)] || collator.compare(a.id, b.id),
  // The uptime shown, the run's (a restart starts it again, createdAt staying): shortest first,
  // as docker ps lists the newest first; stopped containers have none and come last.
  uptime: (a, b) => live(b) - live(a) || (live(a) && b.startedMs - a.startedMs) || collator.compare(a.id, b.id),
};

function cell(row, className) {
  const element = document.createElement("div");
  element.className = `cell ${className}`;
  element.setAttribute("role", "cell");
  row.append(element);
  return element;
}

export class ContainerList {
  constructor(store, elements) {
    this.store = store;
    this.el = elements;
    this.order = [];
    this.rows = new Map(); // id -> row element in the document
    this.pool = [];
    this.text = "";
    this.status = "";
    this.sort = "id";
    this.visible = true;
    this._frame = 0;
    this._orderDirty = true;
    this._measuredLoad = null;

    store.onChange(({ ids, reset }) => this._changed(ids, reset));
    elements.body.addEventListener("scroll", () => this._schedule(), { passive: true });
    new ResizeObserver(() => this._schedule()).observe(elements.body);
    elements.body.addEventListener("click", (event) => this._click(event));
    elements.filter.addEventListener("input", () => {
      this.text = elements.filter.value.trim().toLowerCase();
      this._schedule(true);
    });
    for (const button of elements.statusButtons) {
      button.addEventListener("click", () => {
        this.status = button.dataset.status;
        for (const other of elements.statusButtons) other.setAttribute("aria-pressed", String(other === button));
        this._schedule(true);
      });
    }
    for (const header of elements.sortHeaders) {
      const sortBy = () => {
        this.sort = header.dataset.sort;
        for (const other of elements.sortHeaders) {
          other.setAttribute("aria-sort", other === header ? "ascending" : "none");
        }
        this._schedule(true);
      };
      header.addEventListener("click", sortBy);
      // The column titles are in the tab order (index.html): Enter or Space sorts, as a
      // click does, for a person without a mouse.
      header.addEventListener("keydown", (event) => {
        if (event.key !== "Enter" && event.key !== " ") return;
        event.preventDefault(); // Space would scroll the page
        sortBy();
      });
    }
    setInterval(() => this._tick(), 1000);
    this._statsLoop();
  }

  show(visible) {
    this.visible = visible;
    if (visible) this._schedule();
  }

  _changed(ids, reset) {
    if (reset) this._refill = true; // every entry is a new object: rows in view are redrawn
    this._countsDirty = true;
    if (reset || this.status || this.text || this.sort !== "id") {
      // Membership may have changed (a start, a delete, a status leaving the filter), or,
      // sorted by status or uptime, a row's place (a pause, an exit, a restart).
      this._schedule(true);
    } else {
      this._schedule();
    }
    for (const id of ids) {
      const row = this.rows.get(id);
      const entry = this.store.containers.get(id);
      if (row && entry) this._fill(row, entry);
    }
  }

  _schedule(orderChanged = false) {
    if (orderChanged) this._orderDirty = true;
    if (!this._frame) this._frame = requestAnimationFrame(() => this._render());
  }

  _matches(entry) {
    if (this.status && entry.info.state.status !== this.status) return false;
    if (!this.text) return true;
    if (entry.id.toLowerCase().includes(this.text)) return true;
    return fmt.labelPairs(entry.info.labels).some((pair) => pair.toLowerCase().includes(this.text));
  }

  _render() {
    this._frame = 0;
    const started = performance.now();
    const { body, spacer, empty } = this.el;
    if (this._orderDirty) {
      this._orderDirty = false;
      const entries = [];
      for (const entry of this.store.containers.values()) if (this._matches(entry)) entries.push(entry);
      entries.sort(COMPARE[this.sort]);
      this.order = entries.map((entry) => entry.id);
      spacer.style.height = `${this.order.length * ROW_HEIGHT}px`;
      empty.hidden = this.order.length > 0;
      // A list swiped sideways on a phone (style.css) shows its empty words from its left edge.
      if (this.order.length === 0) body.parentElement.scrollLeft = 0;
      empty.dataset.reason = this.store.containers.size === 0 ? "none" : "filtered";
    }
    if (this._countsDirty) {
      this._countsDirty = false;
      this._counts();
    }
    if (this.visible) {
      if (this._refill) {
        this._refill = false;
        for (const [id, row] of this.rows) {
          const entry = this.store.containers.get(id);
          if (entry) this._fill(row, entry);
        }
      }
      const top = body.scrollTop;
      const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
      const last = Math.min(this.order.length, Math.ceil((top + body.clientHeight) / ROW_HEIGHT) + OVERSCAN);
      const wanted = new Set(this.order.slice(first, last));
      for (const [id, row] of this.rows) {
        if (!wanted.has(id)) {
          this.rows.delete(id);
          row.hidden = true;
          this.pool.push(row);
        }
      }
      for (let index = first; index < last; index += 1) {
        const id = this.order[index];
        let row = this.rows.get(id);
        if (!row) {
          row = this.pool.pop() ?? this._newRow();
          row.shown = {};
          row.hidden = false;
          this.rows.set(id, row);
          this._fill(row, this.store.containers.get(id));
        }
        if (row.index !== index) {
          row.index = index;
          row.style.transform = `translateY(${index * ROW_HEIGHT}px)`;
          row.setAttribute("aria-rowindex", String(index + 2)); // the header row is 1
        }
      }
    }
    this._measure(started);
  }

  _measure(started) {
    const figures = (this.store.timings.render ??= { count: 0, totalMs: 0, maxMs: 0 });
    const took = performance.now() - started;
    figures.count += 1;
    figures.totalMs += took;
    figures.maxMs = Math.max(figures.maxMs, took);
    const load = this.store.lastLoad;
    if (load && load !== this._measuredLoad && this.visible) {
      this._measuredLoad = load;
      // After the next paint: from the answer of GET /state to the list on screen.
      requestAnimationFrame(() =>
        setTimeout(() => {
          this.store.timings.stateToList = {
            containers: load.count,
            ms: performance.now() - load.received,
            fetchMs: load.received - load.started,
          };
        }, 0),
      );
    }
  }

  _counts() {
    const counts = this.store.counts();
    for (const element of this.el.counts) element.textContent = String(counts[element.dataset.count] ?? 0);
  }

  _newRow() {
    const row = document.createElement("div");
    row.className = "row";
    row.setAttribute("role", "row");
    const idCell = cell(row, "c-id");
    row.link = document.createElement("a");
    row.oom = document.createElement("span");
    row.oom.className = "flag flag-oom";
    row.oom.textContent = "OOM";
    row.oom.title = "the kernel killed a process of this container for memory";
    idCell.append(row.link, row.oom);
    row.badge = document.createElement("span");
    cell(row, "c-status").append(row.badge);
    row.uptime = cell(row, "c-uptime num");
    row.exit = cell(row, "c-exit num");
    row.memory = cell(row, "c-memory num");
    row.cpu = cell(row, "c-cpu num");
    row.labels = cell(row, "c-labels");
    row.actions = cell(row, "c-actions");
    this.el.spacer.append(row);
    return row;
  }

  /** Write what changed of `entry` into `row` (only that: a text write costs a layout). */
  _fill(row, entry) {
    const { info, stats } = entry;
    const status = info.state.status;
    const shown = row.shown;
    const set = (key, value, write) => {
      if (shown[key] !== value) {
        shown[key] = value;
        write(value);
      }
    };
    set("id", entry.id, (id) => {
      row.dataset.id = id;
      row.link.textContent = id;
      row.link.href = `#/containers/${encodeURIComponent(id)}`;
    });
    set("oom", entry.oom, (oom) => (row.oom.hidden = !oom));
    const badge = this.store.badge(entry);
    set("badge", badge.text, () => {
      row.badge.textContent = badge.text;
      row.badge.title = badge.title;
    });
    set("status", badge.status, (value) => {
      row.dataset.status = value;
      row.badge.className = `badge badge-${value}`;
      const buttons = [];
      for (const action of actionsFor(value)) {
        if (!ROW_ACTIONS.has(action)) continue;
        const button = document.createElement("button");
        button.type = "button";
        button.className = `btn btn-small${action === "kill" || action === "delete" ? " btn-danger" : ""}`;
        button.dataset.action = action;
        button.textContent = LABELS[action];
        buttons.push(button);
      }
      row.stopNote = value === "stopping" ? stopNote(badge.note) : null;
      replaceActions(row.actions, row.stopNote ? [row.stopNote] : buttons, row.link);
    });
    set("note", badge.note ?? "", (text) => {
      if (row.stopNote) row.stopNote.textContent = text;
    });
    set("uptime", this._uptime(entry), (text) => (row.uptime.textContent = text));
    const code = info.state.exitStatus;
    set("exit", code ?? null, (value) => {
      row.exit.textContent = fmt.exitStatus(value);
      row.exit.title = value == null ? "" : fmt.exitStatus(value); // whole, should it be cut
      row.exit.classList.toggle("bad", value != null && value !== 0);
    });
    const live = status !== "stopped" && stats;
    set("memory", live ? stats.memory : null, (value) => (row.memory.textContent = value == null ? "—" : fmt.bytes(value)));
    set("cpu", live ? stats.cpuPercent : null, (value) => (row.cpu.textContent = fmt.percent(value)));
    const pairs = fmt.labelPairs(info.labels);
    set("labels", pairs.join("\n"), (all) => {
      row.labels.title = all; // the whole set, where the cell cuts it short
      const fragment = document.createDocumentFragment();
      for (const pair of pairs) {
        const chip = document.createElement("span");
        chip.className = "chip";
        chip.textContent = pair;
        chip.title = pair;
        fragment.append(chip);
      }
      row.labels.replaceChildren(fragment);
    });
  }

  _uptime(entry) {
    if (entry.info.state.status === "stopped") return "—";
    return fmt.duration(this.store.now() - entry.startedMs); // this run's, as docker ps's Up
  }

  _tick() {
    if (!this.visible || document.hidden) return;
    for (const [id, row] of this.rows) {
      const entry = this.store.containers.get(id);
      if (entry) {
        const text = this._uptime(entry);
        if (row.shown.uptime !== text) {
          row.shown.uptime = text;
          row.uptime.textContent = text;
        }
        if (this.store.stopping.has(id)) this._fill(row, entry); // its grace, counted down
      }
    }
  }

  _click(event) {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const id = button.closest(".row")?.dataset.id;
    if (id) perform(this.store, button.dataset.action, id, button);
  }

  /** The ids of live containers whose rows are on screen now (not the overscan). */
  _inView() {
    const { body } = this.el;
    const first = Math.floor(body.scrollTop / ROW_HEIGHT);
    const last = Math.ceil((body.scrollTop + body.clientHeight) / ROW_HEIGHT);
    return this.order
      .slice(first, last)
      .filter((id) => this.store.containers.get(id)?.info.state.status !== "stopped");
  }

  async _statsLoop() {
    for (let round = 0; ; round += 1) {
      // Soon after the page opens, then every few seconds (CPU needs two samples).
      await new Promise((resolve) => setTimeout(resolve, round === 0 ? 1000 : STATS_EVERY_MS));
      if (!this.visible || document.hidden) continue;
      const queue = this._inView();
      const worker = async () => {
        for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
          await this.store.sampleStats(id).catch(() => {});
        }
      };
      await Promise.all(Array.from({ length: STATS_IN_FLIGHT }, worker));
    }
  }
}
