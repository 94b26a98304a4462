import { el } from "./grid.js";

// The participant list: everyone in the room (you first), their role, and whether their microphone and
// camera are on. For a role the template gives moderation rights (mute, unmute, removeOthers,
// changeRole, endRoom), each other person gets actions: mute or ask to unmute, stop their video, change
// their role, remove them; and the room can be ended for everyone. The server decides: an action the
// role may not take is refused with its reason, which is shown.

const MODERATION = ["mute", "unmute", "removeOthers", "changeRole", "endRoom"];

export class People {
  /**
   * @param {{ root: HTMLElement, list: HTMLElement, count: HTMLElement, endButton: HTMLButtonElement,
   *           request: (msg: object) => Promise<void>, notify: (text: string) => void, showError: (text: string) => void }} opts
   */
  constructor(opts) {
    Object.assign(this, opts);
    this.self = null;
    this.peers = [];
    this.permissions = {};
    this.roles = [];
    this.endButton.addEventListener("click", () => void this.endRoom());
  }

  /** Whether this role has any moderation right: then each person gets the actions. */
  get moderator() {
    return MODERATION.some((p) => this.permissions[p] === true);
  }

  setRoomState({ permissions, roles }) {
    this.permissions = permissions ?? {};
    this.roles = roles ?? [];
    this.render();
  }

  setPeople(self, peers) {
    this.self = self;
    this.peers = peers;
    this.render();
  }

  render() {
    const everyone = this.self ? [{ ...this.self, isSelf: true }, ...this.peers] : [...this.peers];
    this.count.textContent = String(everyone.length);
    this.list.replaceChildren(...everyone.map((p) => this.row(p)));
    this.endButton.hidden = this.permissions.endRoom !== true;
  }

  row(peer) {
    const li = el("li", "person", { "data-testid": "person", "data-peer-id": peer.id });
    const who = el("div", "person-who", {});
    const name = el("span", "person-name", { "data-testid": "person-name" });
    name.textContent = peer.isSelf ? `${peer.name} (you)` : peer.name;
    const role = el("span", "person-role", { "data-testid": "person-role" });
    role.textContent = peer.role;
    who.append(name, role);
    const state = el("span", "person-state", { "data-testid": "person-state" });
    const mic = sourceState(peer, "microphone");
    const cam = sourceState(peer, "camera");
    state.textContent = [
      mic === "off" ? "muted" : mic === "on" ? "" : "no mic",
      cam === "off" ? "camera off" : cam === "none" ? "no camera" : "",
    ]
      .filter(Boolean)
      .join(" · ");
    if ((peer.groups ?? []).includes("_handraise")) state.textContent = `✋ ${state.textContent}`.trim();
    li.append(who, state);
    if (!peer.isSelf && this.moderator) li.append(this.actions(peer, mic, cam));
    return li;
  }

  actions(peer, mic, cam) {
    const box = el("div", "person-actions", { "data-testid": "person-actions" });
    const action = (testid, label, run) => {
      const b = el("button", "small", { type: "button", "data-testid": testid });
      b.textContent = label;
      b.addEventListener("click", async () => {
        b.disabled = true;
        try {
          await run();
        } catch (err) {
          this.showError(`${label}: ${err.message}`);
        } finally {
          b.disabled = false;
        }
      });
      return b;
    };
    if (mic === "on")
      box.append(
        action("mute-peer", "Mute", async () => {
          await this.request({ type: "mute-request", peer_id: peer.id, source: "microphone", mute: true });
          this.notify(`You muted ${peer.name}.`);
        }),
      );
    else if (mic === "off")
      box.append(
        action("unmute-peer", "Ask to unmute", async () => {
          await this.request({ type: "mute-request", peer_id: peer.id, source: "microphone", mute: false });
          this.notify(`${peer.name} was asked to unmute.`);
        }),
      );
    if (cam === "on")
      box.append(
        action("stop-video-peer", "Stop video", async () => {
          await this.request({ type: "mute-request", peer_id: peer.id, source: "camera", mute: true });
          this.notify(`You turned off ${peer.name}'s camera.`);
        }),
      );
    const others = this.roles.filter((r) => r !== peer.role);
    if (others.length) {
      const select = el("select", "", { "data-testid": "role-select", "aria-label": `New role for ${peer.name}` });
      for (const r of others) {
        const o = el("option", "", { value: r });
        o.textContent = r;
        select.append(o);
      }
      box.append(
        select,
        action("change-role-peer", "Change role", async () => {
          await this.request({ type: "change-role", peer_id: peer.id, role: select.value, force: true });
          this.notify(`${peer.name} is now ${select.value}.`);
        }),
      );
    }
    box.append(
      action("remove-peer", "Remove", async () => {
        if (!window.confirm(`Remove ${peer.name} from the room?`)) return;
        await this.request({ type: "remove-peer", peer_id: peer.id });
      }),
    );
    return box;
  }

  async endRoom() {
    if (!window.confirm("End the room for everyone? Everyone else is removed.")) return;
    this.endButton.disabled = true;
    try {
      await this.request({ type: "end-room" });
      this.notify("You ended the room for everyone else.");
    } catch (err) {
      this.showError(`End room: ${err.message}`);
    } finally {
      this.endButton.disabled = false;
    }
  }

  /** For the debug hook: [{id, name, role, state, actions: [testids]}] as shown. */
  describe() {
    return [...this.list.querySelectorAll('[data-testid="person"]')].map((li) => ({
      id: li.dataset.peerId,
      name: li.querySelector('[data-testid="person-name"]').textContent,
      role: li.querySelector('[data-testid="person-role"]').textContent,
      state: li.querySelector('[data-testid="person-state"]').textContent,
      actions: [...li.querySelectorAll("button")].map((b) => b.dataset.testid),
    }));
  }
}

/** "on", "off" (published and muted) or "none" (not published) for a peer's camera or microphone. */
function sourceState(peer, source) {
  const t = (peer.tracks ?? []).find((x) => x.source === source);
  if (!t) return "none";
  return t.muted ? "off" : "on";
}
