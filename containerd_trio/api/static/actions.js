// What a person can do to a container from the page: the API's own requests, with a question
// first for those that destroy (kill, delete, a checkpoint that stops the container).

import { ApiError, call, containerPath } from "./api.js";
import { askCheckpoint, confirmAction, toast } from "./dialog.js";

/** Which actions a container in this status offers. */
export function actionsFor(status) {
  switch (status) {
    case "running":
      return ["pause", "checkpoint", "kill", "delete"];
    case "paused":
      return ["resume", "kill", "delete"];
    case "restarting":
      // A signal cancels the restart it waits for (docker's kill of a restarting container).
      return ["kill", "delete"];
    case "stopping":
      // A delete waiting out its grace: its badge counts it down (store.badge).
      return [];
    default:
      return ["delete"];
  }
}

export const LABELS = {
  pause: "Pause",
  resume: "Resume",
  checkpoint: "Checkpoint…",
  kill: "Kill",
  delete: "Delete",
};

const STOP_TIMEOUT_S = 10;

/** In place of the actions of a container the page is stopping: the seconds of grace left. */
export function stopNote(text) {
  const note = document.createElement("span");
  note.className = "stop-note";
  note.textContent = text;
  return note;
}

/** After an action, the button that undoes it, where the focus goes on (a keyboard's Enter). */
const COUNTERPART = { pause: "resume", resume: "pause" };

/** Focus the action of `container` that follows `action`: its counterpart, or the first. */
function focusAfter(container, action, fallback) {
  const next =
    container.querySelector(`[data-action="${COUNTERPART[action] ?? action}"]`) ??
    container.querySelector("button") ??
    fallback;
  next?.focus();
}

/**
 * Put `buttons` in `container` in place of its actions. A status's change redraws them: the
 * focus on one of them (Enter on Pause) would fall to the document's body, and the next Tab
 * or Enter start from the top. It goes on to the action's counterpart (Resume), or to the
 * first action left (Delete, once killed), or else to `fallback`.
 */
export function replaceActions(container, buttons, fallback) {
  const focused = container.contains(document.activeElement) ? document.activeElement.dataset.action : null;
  container.replaceChildren(...buttons);
  if (focused) focusAfter(container, focused, fallback);
}

async function run(store, action, id) {
  switch (action) {
    case "pause":
    case "resume": {
      const status = action === "pause" ? "paused" : "running";
      store.applyAnswer(await call("PATCH", containerPath(id), { body: { status } }));
      return `${id} ${action === "pause" ? "paused" : "resumed"}`;
    }
    case "kill": {
      const sure = await confirmAction({
        title: `Kill ${id}?`,
        message:
          "SIGKILL goes to its init process: the container stops at once, and every process in " +
          "it with it. Unsaved work in it is lost.",
        action: "Kill",
      });
      if (!sure) return null;
      // A restarting container answers stopped at once: the answer is the news, before its
      // restart-cancelled comes. (A running one's exit comes as its event.)
      store.applyAnswer(await call("PATCH", containerPath(id), { body: { signal: 9 } }));
      return `SIGKILL sent to ${id}`;
    }
    case "delete": {
      const status = store.containers.get(id)?.info.state.status;
      const stop =
        status === "stopped"
          ? ""
          : ` It is ${status}: it gets SIGTERM, then SIGKILL after ${STOP_TIMEOUT_S} s.`;
      const sure = await confirmAction({
        title: `Delete ${id}?`,
        message: `The container and its log are removed; its checkpoints stay in the bundle.${stop}`,
        action: "Delete",
      });
      if (!sure) return null;
      // A live one waits out its grace (SIGTERM, then SIGKILL): shown stopping meanwhile,
      // with the seconds left, rather than a greyed button alone.
      if (status !== "stopped") store.markStopping(id, STOP_TIMEOUT_S);
      try {
        await call("DELETE", containerPath(id, `?timeout=${STOP_TIMEOUT_S}`), {
          timeout: (STOP_TIMEOUT_S + 30) * 1000,
        });
      } finally {
        store.doneStopping(id);
      }
      store.forget(id);
      return `${id} deleted`;
    }
    case "checkpoint": {
      const options = await askCheckpoint(id);
      if (!options) return null;
      if (options.exit) {
        const sure = await confirmAction({
          title: `Checkpoint and stop ${id}?`,
          message:
            `Checkpoint "${options.name}" is written, then the container stops. It can be ` +
            "started again from the checkpoint.",
          action: "Checkpoint and stop",
        });
        if (!sure) return null;
      }
      const { name, ...body } = options;
      await call("POST", containerPath(id, `/checkpoint/${encodeURIComponent(name)}`), {
        body,
        timeout: 120_000, // CRIU dumps the whole memory of the container
      });
      return `checkpoint ${name} of ${id} written`;
    }
    default:
      throw new Error(`unknown action ${action}`);
  }
}

/**
 * Perform `action` on container `id`, with `button` disabled meanwhile. Resolves once done; the
 * outcome is told in a toast, the daemon's own sentence when it refused.
 */
export async function perform(store, action, id, button) {
  // Disabled, the button loses the focus (to the body): given back once done, to it or, if
  // its status's change redrew the actions meanwhile, to the one that took its place, unless
  // the person has gone on elsewhere.
  const focused = button !== undefined && document.activeElement === button;
  const actions = button?.parentElement;
  if (button) button.disabled = true;
  try {
    const done = await run(store, action, id);
    if (done) toast(done);
  } catch (error) {
    toast(error instanceof ApiError ? error.message : String(error), "error");
  } finally {
    if (button) button.disabled = false;
    if (focused && (document.activeElement === null || document.activeElement === document.body)) {
      if (button.isConnected) button.focus();
      else if (actions?.isConnected) focusAfter(actions, action);
    }
  }
}
