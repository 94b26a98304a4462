// Form pieces shared by the template page's tabs (pages/templates.js and the template-*.js sections).

import { busy, confirmAction, el } from "../ui.js";

let fieldCount = 0;

/** A number input's value, or undefined when empty. */
export const num = (input) => (input.value.trim() === "" ? undefined : Number(input.value));
export const setOrDelete = (obj, key, value) => {
  if (value === undefined) delete obj[key];
  else obj[key] = value;
  return obj;
};
export const clone = (v) => (v === undefined || v === null ? {} : structuredClone(v));
export const enc = encodeURIComponent;

/** A labelled input in its own block. */
export function field(label, input, hint) {
  input.id ||= `tpl-f${++fieldCount}`;
  return el(
    "div",
    { class: "tpl-field" },
    el("label", { for: input.id }, label, hint ? el("span", { class: "tpl-hint" }, ` (${hint})`) : null),
    input,
  );
}
export const numberInput = (testid, value, attrs = {}) =>
  el("input", { type: "number", inputmode: "numeric", step: 1, "data-testid": testid, value: value ?? "", ...attrs });
export function checkbox(label, checked, attrs = {}) {
  const box = el("input", { type: "checkbox", checked: Boolean(checked), ...attrs });
  return { box, node: el("label", { class: "check" }, box, label) };
}

/**
 * A button for a destructive action: it asks first in the dashboard's confirm dialog (`question`, and
 * `text` saying what happens), then runs `action` under busy(); Cancel or Escape does nothing.
 */
export function confirmButton({ label, question, text, testid, busyText, action }) {
  const start = el("button", { type: "button", class: "danger", "data-testid": testid }, label);
  start.addEventListener("click", async () => {
    if (await confirmAction({ title: question, text: text ?? "This cannot be undone.", confirmLabel: label }))
      await busy(start, busyText, action);
  });
  return start;
}
