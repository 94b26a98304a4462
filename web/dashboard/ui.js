// Small DOM helpers shared by the dashboard's pages: element building (text is always text, never
// HTML), the toast, formatting, and a table that turns into cards on a phone.

/**
 * @param {string} tag
 * @param {Record<string, unknown>} [attrs]  `on<event>` keys become listeners; false/null skip the attribute
 * @param {...(Node|string|number|null|undefined|false)} children
 */
/** Replaces `node`'s children, skipping null, undefined and false as `el` does (replaceChildren would write "null"). */
export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "value") node.value = v;
    else if (k === "checked") node.checked = Boolean(v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

const toast = () => document.querySelector('[data-testid="toast"]');
let toastTimer = 0;

function showToast(kind, title, details) {
  const t = toast();
  t.classList.toggle("ok", kind === "ok");
  t.classList.toggle("warning", kind === "warning");
  t.querySelector('[data-testid="toast-title"]').textContent = title;
  t.querySelector('[data-testid="toast-details"]').replaceChildren(...details.map((d) => el("li", {}, d)));
  t.hidden = false;
  clearTimeout(toastTimer);
  if (kind === "ok") toastTimer = setTimeout(() => (t.hidden = true), 4000);
}

document.addEventListener("click", (e) => {
  if (e.target instanceof Element && e.target.closest('[data-testid="toast-close"]')) toast().hidden = true;
});

/** An error for the toast that did not come from the API: what went wrong, and what to do (`details`). */
export const problem = (message, details = []) => Object.assign(new Error(message), { details });

/** An API error (or any error) as the toast: the message, and each detail saying what to do. */
export function showError(err) {
  console.error(err);
  showToast("error", err?.message ?? String(err), err?.details ?? []);
}

export const showOk = (title, details = []) => showToast("ok", title, details);
/** Not an error, but not a plain success either: it stays until closed. */
export const showWarning = (title, details = []) => showToast("warning", title, details);

export function formatBytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(i && v < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatDuration(s) {
  if (s === null || s === undefined) return "–";
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.round(s % 60);
  return h ? `${h}:${String(m).padStart(2, "0")}:${String(sec).padStart(2, "0")}` : `${m}:${String(sec).padStart(2, "0")}`;
}

export const formatTime = (iso) => (iso ? new Date(iso).toLocaleString() : "–");

export const badge = (status) => el("span", { class: `badge ${status}`, "data-testid": "status" }, status);

/**
 * A table whose rows become cards on a narrow screen.
 * @param {string[]} headers
 * @param {Array<Array<Node|string>>} rows
 * @param {{testid?: string, rowIds?: string[], empty?: string}} [o]
 */
export function table(headers, rows, o = {}) {
  if (!rows.length) return el("p", { class: "muted", "data-testid": o.testid ? `${o.testid}-empty` : null }, o.empty ?? "Nothing yet.");
  return el(
    "table",
    { "data-testid": o.testid },
    el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h)))),
    el(
      "tbody",
      {},
      ...rows.map((cells, i) => el("tr", { "data-id": o.rowIds?.[i] }, ...cells.map((c, j) => el("td", { "data-label": headers[j] }, c)))),
    ),
  );
}

/** Runs `work` with `button` disabled and showing `busyText`; errors go to the toast. */
export async function busy(button, busyText, work) {
  const label = button.textContent;
  button.disabled = true;
  button.textContent = busyText;
  try {
    return await work();
  } catch (err) {
    showError(err);
    return undefined;
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

/** Copies text; says so in the toast (with `details`, e.g. when a link expires). */
export async function copy(text, what, details = []) {
  try {
    await navigator.clipboard.writeText(text);
    showOk(`${what} copied`, details);
  } catch {
    window.prompt(`Copy the ${what.toLowerCase()}:`, text);
  }
}

/**
 * Asks before a destructive action: a modal dialog saying what will happen, with Cancel (focused, so
 * Enter or Escape does nothing harmful) and the action's own label. Resolves true only on the action.
 * @param {{title: string, text: string | string[], confirmLabel: string}} o
 * @returns {Promise<boolean>}
 */
export function confirmAction({ title, text, confirmLabel }) {
  const cancel = el("button", { type: "button", "data-testid": "confirm-cancel" }, "Cancel");
  const ok = el("button", { type: "button", class: "danger", "data-testid": "confirm-ok" }, confirmLabel);
  const titleId = `confirm-title-${Date.now()}`;
  const dialog = el(
    "dialog",
    { class: "confirm", "data-testid": "confirm-dialog", "aria-labelledby": titleId },
    el("h2", { id: titleId, "data-testid": "confirm-title" }, title),
    ...(Array.isArray(text) ? text : [text]).map((t) => el("p", { "data-testid": "confirm-text" }, t)),
    el("div", { class: "confirm-actions" }, cancel, ok),
  );
  document.body.append(dialog);
  return new Promise((resolve) => {
    let answer = false;
    cancel.addEventListener("click", () => dialog.close());
    ok.addEventListener("click", () => {
      answer = true;
      dialog.close();
    });
    // Escape closes a modal <dialog> (its "cancel" event); every way out ends here.
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(answer);
    });
    dialog.showModal();
    cancel.focus();
  });
}
