// The live event feed beside every view: the newest event on top, the last few hundred kept.

import { clock, exitStatus, parseTime } from "./format.js";

const KEPT = 300;

export class EventFeed {
  constructor(list) {
    this.list = list;
  }

  /** Add a batch of events (oldest first), in one DOM update. */
  add(events) {
    const fragment = document.createDocumentFragment();
    for (let n = events.length - 1; n >= Math.max(0, events.length - KEPT); n -= 1) {
      fragment.append(this._item(events[n]));
    }
    this.list.prepend(fragment);
    while (this.list.childElementCount > KEPT) this.list.lastElementChild.remove();
  }

  _item(event) {
    const item = document.createElement("li");
    item.className = "event";
    item.dataset.type = event.type;
    item.dataset.id = event.id;

    const time = document.createElement("time");
    time.dateTime = event.timestamp;
    time.textContent = clock(parseTime(event.timestamp));
    time.title = event.timestamp;

    const type = document.createElement("span");
    type.className = `event-type type-${event.type}`;
    type.textContent = event.type;

    // The daemon's own events (daemon-stopping) are of no container: their id is empty.
    const link = document.createElement(event.id ? "a" : "span");
    link.className = "event-id";
    if (event.id) link.href = `#/containers/${encodeURIComponent(event.id)}`;
    link.textContent = event.id || "daemon";

    const detail = document.createElement("span");
    detail.className = "event-detail";
    const parts = [];
    if (event.pid != null) parts.push(`pid ${event.pid}`);
    if (event.status != null) parts.push(`status ${exitStatus(event.status)}`);
    detail.textContent = parts.join(" · ");

    item.append(time, type, link, detail);
    return item;
  }
}
