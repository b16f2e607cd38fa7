// The page's entry: the store, the event stream that keeps it current, and the two views
// (the list at #/, a container at #/containers/<id>).

import { ContainerView } from "./detail.js";
import { toast } from "./dialog.js";
import { EventStream, saysStopping } from "./events.js";
import { EventFeed } from "./feed.js";
import * as fmt from "./format.js";
import { ContainerList } from "./list.js";
import { Store } from "./store.js";

const $ = (id) => document.getElementById(id);
const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

const store = new Store();
const feed = new EventFeed($("event-feed"));
const list = new ContainerList(store, {
  body: $("rows"),
  spacer: $("rows-spacer"),
  empty: $("rows-empty"),
  filter: $("filter"),
  statusButtons: [...document.querySelectorAll("#status-filter button")],
  sortHeaders: [...document.querySelectorAll(".grid-head [data-sort]")],
  counts: [...document.querySelectorAll("[data-count]")],
});
const detail = new ContainerView(store);

function route() {
  const match = /^#\/containers\/([^/]+)$/.exec(location.hash);
  const id = match ? decodeURIComponent(match[1]) : null;
  const showDetail = id !== null && ID.test(id);
  $("list-view").hidden = showDetail;
  $("container-view").hidden = !showDetail;
  list.show(!showDetail);
  if (showDetail) {
    detail.show(id);
    document.title = `${id} · containerd-trio`;
  } else {
    detail.hide();
    document.title = "containerd-trio";
  }
}

function showMachine() {
  const machine = store.machine;
  if (!machine) return;
  $("machine-cpus").textContent = `${machine.cpus} CPU${machine.cpus === 1 ? "" : "s"}`;
  $("machine-memory").textContent = `${fmt.bytes(machine.memory)} memory`;
}

const CONNECTION = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  offline: "disconnected",
  // The daemon said it stops (docs/page.md): its containers go, then its streams end.
  stopping: "daemon stopping",
  stopped: "daemon stopped",
};

function showConnection(state, delay) {
  const element = $("connection");
  // A reconnection's try after the daemon's stop keeps saying why it is not live.
  const shown = state === "reconnecting" && events?.stopping ? "stopped" : state;
  element.dataset.state = shown;
  const retry = delay ? `, retrying in ${Math.ceil(delay / 1000)} s` : "";
  $("connection-text").textContent = `${CONNECTION[shown]}${retry}`;
}

let loadFailures = 0;
const events = new EventStream({
  // On every (re)connection, a fresh snapshot: the stream is registered by now, so whatever
  // happens after the snapshot arrives as events, and whatever the stream missed is in it.
  onConnected: async () => {
    try {
      await store.load();
      loadFailures = 0;
      showMachine();
    } catch (error) {
      // "the daemon is shutting down": a stop that began as the stream connected.
      if (saysStopping(error.status, error.message)) events.daemonStopping();
      loadFailures += 1;
      if (loadFailures === 1) toast(`cannot read the daemon's state: ${error.message}`, "error");
      events.reconnect(); // a stream without a snapshot is useless: start over (after a delay)
    }
  },
  onEvents: (batch) => {
    store.receive(batch);
    feed.add(batch);
  },
  onStatus: showConnection,
});

$("daemon-address").textContent = location.host;
$("rows-example").textContent = fmt.firstContainerExample(location);

window.addEventListener("hashchange", route);
window.addEventListener("online", () => events.wake());
route();
events.run();

// For the people measuring the page (docs/page.md) and for debugging from the console.
window.containerdTrio = { store, timings: store.timings };
