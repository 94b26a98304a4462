// Form pieces shared by the template page's tabs (pages/templates.js and the template-*.js sections).

import { busy, el } from "../ui.js";

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

/** A button that asks "sure?" inline (no window.confirm) before running `action` under busy(). */
export function confirmButton({ label, question, testid, busyText, action }) {
  const start = el("button", { type: "button", class: "danger", "data-testid": testid }, label);
  const yes = el("button", { type: "button", class: "danger", "data-testid": `${testid}-confirm` }, label);
  const no = el("button", { type: "button", "data-testid": `${testid}-cancel` }, "Cancel");
  const ask = el("span", { class: "tpl-confirm", hidden: true }, el("span", {}, question), yes, no);
  start.addEventListener("click", () => {
    start.hidden = true;
    ask.hidden = false;
  });
  no.addEventListener("click", () => {
    start.hidden = false;
    ask.hidden = true;
  });
  // Done or refused (the toast says why), the question closes.
  yes.addEventListener(
    "click",
    () =>
      void busy(yes, busyText, action).finally(() => {
        start.hidden = false;
        ask.hidden = true;
      }),
  );
  return el("span", { class: "tpl-confirm-wrap" }, start, ask);
}
