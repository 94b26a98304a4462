import { el } from "./grid.js";

// The chat panel: the list of messages (sender, time, text; direct and role-only messages marked), an
// input and a target selector (everyone, a role, or one peer). Everything the user or other peers wrote
// goes in with textContent.

export class Chat {
  /**
   * @param {{ list: HTMLOListElement, form: HTMLFormElement, input: HTMLInputElement, target: HTMLSelectElement,
   *           send: (message: string, opts: {roles?: string[], peer_id?: string}) => boolean }} opts
   */
  constructor({ list, form, input, target, send }) {
    Object.assign(this, { list, form, input, target, send });
    this.selfId = null;
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      if (this.send(text, this.selectedTarget())) input.value = "";
    });
  }

  /** `{}` (everyone), `{roles: [r]}` or `{peer_id}` from the selector. */
  selectedTarget() {
    const v = this.target.value;
    if (v.startsWith("role:")) return { roles: [v.slice(5)] };
    if (v.startsWith("peer:")) return { peer_id: v.slice(5) };
    return {};
  }

  /** Rebuilds the target selector from the roles and peers present, keeping the choice if it still exists. */
  setTargets({ roles, peers }) {
    const previous = this.target.value;
    const options = [["all", "Everyone"]];
    for (const r of [...new Set(roles)].sort()) options.push([`role:${r}`, `Role: ${r}`]);
    for (const p of peers) options.push([`peer:${p.id}`, `${p.name} (direct)`]);
    this.target.replaceChildren(
      ...options.map(([value, label]) => {
        const o = el("option", "", { value });
        o.textContent = label;
        return o;
      }),
    );
    this.target.value = options.some(([v]) => v === previous) ? previous : "all";
  }

  /**
   * Shows one message. `msg` has the protocol's chat shape; `mine` marks our own (the SFU delivers
   * those back to the sender), `toName` names the recipient of our direct message.
   * @param {{ sender: {peer_id: string, name: string}, roles?: string[], peer_id?: string, message: string, sent_at: string }} msg
   * @param {{ mine?: boolean, toName?: string }} [opts]
   */
  add(msg, { mine = false, toName } = {}) {
    const direct = Boolean(msg.peer_id);
    const item = el("li", `chat-msg${direct ? " direct" : ""}${mine ? " mine" : ""}`, {
      "data-testid": "chat-message",
      "data-direct": String(direct),
      "data-sender-id": msg.sender.peer_id ?? "",
    });
    const head = el("div", "chat-head", {});
    const sender = el("span", "chat-sender", { "data-testid": "chat-sender" });
    sender.textContent = mine ? "You" : msg.sender.name;
    const time = el("time", "chat-time", { datetime: msg.sent_at });
    time.textContent = formatTime(msg.sent_at);
    head.append(sender, time);
    const badgeText = direct ? (mine ? `direct to ${toName ?? "peer"}` : "direct") : msg.roles?.length ? `to ${msg.roles.join(", ")}` : "";
    if (badgeText) {
      const badge = el("span", "chat-badge", { "data-testid": "chat-badge" });
      badge.textContent = badgeText;
      head.append(badge);
    }
    const text = el("p", "chat-text", { "data-testid": "chat-text" });
    text.textContent = msg.message;
    item.append(head, text);
    this.list.append(item);
    item.scrollIntoView({ block: "nearest" });
  }

  /** A line from the room itself (a recording started or stopped), not from a person. */
  addSystem(text) {
    const item = el("li", "chat-msg system", { "data-testid": "chat-system" });
    const p = el("p", "chat-text", {});
    p.textContent = text;
    const time = el("time", "chat-time", { datetime: new Date().toISOString() });
    time.textContent = formatTime(new Date().toISOString());
    item.append(time, p);
    this.list.append(item);
    item.scrollIntoView({ block: "nearest" });
  }

  clear() {
    this.list.replaceChildren();
  }
}

function formatTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
