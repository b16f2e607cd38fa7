// One container's page: what it is, what it uses, its processes, checkpoints and log, live.

import { actionsFor, LABELS, perform, replaceActions, stopNote } from "./actions.js";
import { ApiError, call, containerPath } from "./api.js";
import { confirmAction, toast } from "./dialog.js";
import * as fmt from "./format.js";
import { LogView } from "./log.js";

const STATS_EVERY_MS = 2000;

const $ = (id) => document.getElementById(id);

/** A definition list's rows, made once; `fields[key]` is the <dd> to write into. */
function definitions(dl, names) {
  const fields = {};
  for (const [key, label] of Object.entries(names)) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.dataset.field = key;
    dl.append(dt, dd);
    fields[key] = dd;
  }
  return fields;
}

function tableRow(values) {
  const tr = document.createElement("tr");
  for (const value of values) {
    const td = document.createElement("td");
    if (value instanceof Node) td.append(value);
    else td.textContent = value;
    tr.append(td);
  }
  return tr;
}

export class ContainerView {
  constructor(store) {
    this.store = store;
    this.id = null;
    this.overview = definitions($("c-overview"), {
      init: "Init process",
      created: "Created",
      started: "Started",
      finished: "Finished",
      uptime: "Uptime",
      exit: "Exit status",
      restarts: "Restarts",
      bundle: "Bundle",
      labels: "Labels",
    });
    this.resources = definitions($("c-resources"), {
      memory: "Memory",
      peak: "Peak memory",
      cpu: "CPU",
      pids: "Tasks",
    });
    this.log = new LogView({
      element: $("log"),
      status: $("log-status"),
      streamButtons: document.querySelectorAll("#log-streams button"),
      pidSelect: $("log-pid"),
      // Not before the state is in: a page opened at a container's address asks for its log
      // first, and so would call it stopped and not say it follows.
      isStopped: () => this._entry()?.info.state.status === "stopped",
    });
    $("c-actions").addEventListener("click", async (event) => {
      const button = event.target.closest("button[data-action]");
      if (!button || !this.id) return;
      const id = this.id;
      await perform(store, button.dataset.action, id, button);
      // Deleted from its own page: back to the list, where it is gone.
      if (button.dataset.action === "delete" && this.id === id && !store.containers.has(id)) {
        location.hash = "#/";
      }
    });
    $("c-checkpoints").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-checkpoint]");
      if (button && this.id) this._restore(button.dataset.checkpoint, button);
    });
    store.onChange(({ ids, reset }) => {
      if (this.id && (reset || ids.includes(this.id))) this._render();
    });
    store.onEvent((event) => {
      if (event.id !== this.id) return;
      if (event.type === "checkpoint" || event.type === "delete") this._loadCheckpoints();
      // A new container under this id (the store made a placeholder for it): its own log.
      // A replayed start of the one shown leaves the store, and so the log, as they are.
      const fresh = this._entry()?.placeholder;
      if ((event.type === "start-container" || event.type === "restore") && fresh) {
        this.log.start(this.id);
      }
    });
    setInterval(() => this.id && this._renderTimes(), 1000);
  }

  _entry() {
    return this.store.containers.get(this.id);
  }

  show(id) {
    if (this.id === id) return;
    this.hide();
    this.id = id;
    $("c-title").textContent = id;
    this.shownStatus = null;
    this._render();
    this.log.start(id);
    this._loadCheckpoints();
    this._statsController = new AbortController();
    this._statsLoop(id, this._statsController.signal);
  }

  hide() {
    this.id = null;
    this.log.stop();
    this._statsController?.abort();
  }

  _render() {
    const entry = this._entry();
    // "Not found" only once the page knows the daemon's containers.
    $("c-missing").hidden = Boolean(entry) || !this.store.machine;
    $("c-body").hidden = !entry;
    if (!entry) {
      $("c-status").textContent = "";
      $("c-status").className = "";
      $("c-actions").replaceChildren();
      // Gone, its actions with it: one that comes back (a start under its id, or the replay
      // of its own delete and start over the state, on opening its address) gets them anew,
      // whatever its status. They stayed away when it came back in the status it had.
      this.shownStatus = null;
      return;
    }
    const { info, stats } = entry;
    const status = info.state.status;
    const shown = this._renderBadge(entry);
    $("c-oom").hidden = !entry.oom;
    if (this.shownStatus !== shown) {
      this.shownStatus = shown;
      const buttons = actionsFor(shown).map((action) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = `btn${action === "kill" || action === "delete" ? " btn-danger" : ""}`;
        button.dataset.action = action;
        button.textContent = LABELS[action];
        return button;
      });
      // A stop the page asked for: the seconds of its grace left, in place of the actions.
      replaceActions($("c-actions"), shown === "stopping" ? [stopNote(this.store.badge(entry).note)] : buttons);
      this._renderCheckpointButtons();
    }

    const o = this.overview;
    const init = info.processes[0]?.pid;
    o.init.textContent = init == null ? "—" : `pid ${init}`;
    o.created.textContent = fmt.dateTime(entry.createdMs);
    o.created.title = info.createdAt;
    // The run's (docker's State.StartedAt and FinishedAt): a restart's own start, and no
    // finish while it runs, as the API leaves it out then.
    o.started.textContent = fmt.dateTime(entry.startedMs);
    o.started.title = info.state.startedAt ?? "";
    o.finished.textContent = fmt.dateTime(entry.finishedMs);
    o.finished.title = info.state.finishedAt ?? "";
    o.exit.textContent = info.state.exitStatus == null ? "—" : fmt.exitStatus(info.state.exitStatus);
    o.exit.classList.toggle("bad", info.state.exitStatus != null && info.state.exitStatus !== 0);
    // How many times its policy started it again since its user's start, and the policy.
    const policy = info.restartPolicy;
    o.restarts.textContent = policy ? `${info.restartCount ?? 0} (${fmt.restartPolicy(policy)})` : "—";
    o.bundle.textContent = info.bundlePath || "…";
    o.bundle.classList.add("mono");
    const chips = fmt.labelPairs(info.labels).map((pair) => {
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.textContent = pair;
      return chip;
    });
    o.labels.replaceChildren(...(chips.length ? chips : [document.createTextNode("—")]));
    this._renderTimes();

    const r = this.resources;
    const live = status !== "stopped" && stats;
    r.memory.textContent = !live
      ? "—"
      : stats.memoryLimit
        ? `${fmt.bytes(stats.memory)} of ${fmt.bytes(stats.memoryLimit)}`
        : `${fmt.bytes(stats.memory)} (no limit)`;
    r.peak.textContent = live ? fmt.bytes(stats.memoryMax) : "—";
    // A share needs two samples: after the first there is none yet.
    r.cpu.textContent = live && stats.cpuPercent != null ? `${fmt.percent(stats.cpuPercent)} of one CPU` : "—";
    r.pids.textContent = live && stats.pids != null ? String(stats.pids) : "—";

    const rows = info.processes.map((process, index) => {
      const pid = document.createElement("span");
      pid.className = "mono";
      pid.textContent = String(process.pid);
      const role = document.createElement("span");
      role.className = "muted";
      role.textContent = index === 0 ? " init" : "";
      pid.append(role);
      const command = document.createElement("code");
      command.textContent = fmt.commandLine(process.args);
      const user = process.user ? `${process.user.uid}:${process.user.gid}` : "";
      return tableRow([pid, command, user, process.cwd ?? ""]);
    });
    if (rows.length === 0) {
      const empty = tableRow([status === "stopped" ? "No process runs: the container has stopped." : "…"]);
      empty.firstChild.colSpan = 4;
      empty.className = "empty-row";
      rows.push(empty);
    }
    $("c-processes").replaceChildren(...rows);
  }

  /** Its badge (a stop the page asked for counted down, store.badge); the status shown. */
  _renderBadge(entry) {
    const { status, text, title, note } = this.store.badge(entry);
    const badge = $("c-status");
    badge.className = `badge badge-${status}`;
    badge.textContent = text;
    badge.title = title;
    const shownNote = $("c-actions").querySelector(".stop-note");
    if (shownNote) shownNote.textContent = note ?? "";
    return status;
  }

  _renderTimes() {
    const entry = this._entry();
    if (!entry) return;
    if (this.store.stopping.has(entry.id)) this._renderBadge(entry);
    const stopped = entry.info.state.status === "stopped";
    // This run's, as docker's Up: a restart's counts from the restart, not the creation.
    let text = fmt.duration(this.store.now() - entry.startedMs);
    if (stopped) {
      text = Number.isFinite(entry.finishedMs)
        ? `stopped ${fmt.duration(this.store.now() - entry.finishedMs)} ago`
        : "stopped";
    }
    this.overview.uptime.textContent = text;
  }

  async _loadCheckpoints() {
    const id = this.id;
    let list;
    try {
      list = await call("GET", containerPath(id, "/checkpoint"));
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 404) console.warn(error);
      list = [];
    }
    if (this.id !== id) return;
    const rows = list
      .slice()
      .reverse()
      .map((checkpoint) => {
        const options = ["tcp", "unixSockets", "shell"].filter((key) => checkpoint[key]).join(", ");
        const restore = document.createElement("button");
        restore.type = "button";
        restore.className = "btn btn-small";
        restore.dataset.checkpoint = checkpoint.name;
        restore.textContent = "Restore";
        restore.title = "start the container again from this checkpoint (it must be stopped)";
        const name = document.createElement("span");
        name.className = "mono";
        name.textContent = checkpoint.name;
        return tableRow([name, fmt.dateTime(fmt.parseTime(checkpoint.timestamp)), options || "—", restore]);
      });
    if (rows.length === 0) {
      const empty = tableRow(["No checkpoints in this container's bundle."]);
      empty.firstChild.colSpan = 4;
      empty.className = "empty-row";
      rows.push(empty);
    }
    $("c-checkpoints").replaceChildren(...rows);
    this._renderCheckpointButtons();
  }

  _renderCheckpointButtons() {
    const stopped = this._entry()?.info.state.status === "stopped";
    for (const button of document.querySelectorAll("#c-checkpoints button[data-checkpoint]")) {
      button.disabled = !stopped;
    }
  }

  async _restore(name, button) {
    const entry = this._entry();
    if (!entry) return;
    const id = this.id;
    const sure = await confirmAction({
      title: `Restore ${id} from ${name}?`,
      // The daemon keeps the stopped container's log for a restore over it (logs.md): the
      // restored processes write on where the checkpointed ones left off.
      message:
        "The stopped container is replaced by one restored from the checkpoint, which writes " +
        "on into its log.",
      action: "Restore",
    });
    if (!sure) return;
    button.disabled = true;
    try {
      const body = { bundlePath: entry.info.bundlePath, checkpoint: name, labels: entry.info.labels };
      await call("POST", containerPath(id), { body, timeout: 120_000 });
      toast(`${id} restored from ${name}`);
    } catch (error) {
      toast(error instanceof ApiError ? error.message : String(error), "error");
    } finally {
      this._renderCheckpointButtons();
    }
  }

  async _statsLoop(id, signal) {
    while (!signal.aborted) {
      if (!document.hidden && this._entry()?.info.state.status !== "stopped") {
        await this.store.sampleStats(id, signal).catch(() => {});
      }
      await new Promise((resolve) => setTimeout(resolve, STATS_EVERY_MS));
    }
  }
}
