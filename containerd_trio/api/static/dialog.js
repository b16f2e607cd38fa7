// Asking before destroying, and telling how an action went. Every text goes in as textContent.

const $ = (id) => document.getElementById(id);

/** Open a modal `<dialog>` and resolve with the value of the button that closed it. */
function ask(dialog) {
  return new Promise((resolve) => {
    dialog.returnValue = "";
    const done = () => {
      dialog.removeEventListener("close", done);
      resolve(dialog.returnValue);
    };
    dialog.addEventListener("close", done);
    dialog.showModal();
  });
}

for (const button of document.querySelectorAll("dialog button[value]")) {
  button.addEventListener("click", () => button.closest("dialog").close(button.value));
}

/** A yes/no question for a destructive action; true when confirmed. */
export async function confirmAction({ title, message, action }) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-message").textContent = message;
  $("confirm-ok").textContent = action;
  const answer = ask(dialog);
  $("confirm-cancel").focus(); // the safe choice is the default one
  return (await answer) === "ok";
}

// Enter in the name field is the form's OK (there is no <form>: the policy allows no action).
$("checkpoint-name").addEventListener("keydown", (event) => {
  if (event.key === "Enter") {
    event.preventDefault();
    $("checkpoint").close("ok");
  }
});

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** The checkpoint form: its options, or null if cancelled. */
export async function askCheckpoint(containerId) {
  const dialog = $("checkpoint");
  const name = $("checkpoint-name");
  const stamp = new Date().toISOString().slice(0, 19).replaceAll(":", "").replace("T", "-");
  $("checkpoint-title").textContent = `Checkpoint ${containerId}`;
  name.value = `cp-${stamp}`;
  for (const id of ["checkpoint-exit", "checkpoint-tcp", "checkpoint-unix"]) $(id).checked = false;
  const answer = ask(dialog);
  name.select();
  if ((await answer) !== "ok") return null;
  const value = name.value.trim();
  if (!NAME.test(value)) {
    toast(`"${value}" is not a valid checkpoint name: letters, digits, '_', '.', '-'`, "error");
    return null;
  }
  return {
    name: value,
    exit: $("checkpoint-exit").checked,
    tcp: $("checkpoint-tcp").checked,
    unixSockets: $("checkpoint-unix").checked,
  };
}

/** A short note in the corner; errors stay longer. */
export function toast(message, kind = "info") {
  const note = document.createElement("div");
  note.className = `toast toast-${kind}`;
  note.setAttribute("role", kind === "error" ? "alert" : "status");
  const text = document.createElement("span");
  text.textContent = message;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "toast-close";
  close.setAttribute("aria-label", "Dismiss");
  close.textContent = "×";
  close.addEventListener("click", () => note.remove());
  note.append(text, close);
  $("toasts").append(note);
  setTimeout(() => note.remove(), kind === "error" ? 12_000 : 4_000);
}
