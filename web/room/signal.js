// The signalling socket (JSON text frames over `/sfu/ws`, see src/sfu/protocol.ts), with a keep-alive
// ping. One Signal per join attempt: a Rejoin opens a new one.

const PING_EVERY_MS = 15_000;

export function signalUrl(loc = window.location) {
  return `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}/sfu/ws`;
}

export class Signal {
  /**
   * @param {{ url: string, onMessage: (msg: any) => void, onClose: (ev: {code: number, reason: string, opened: boolean}) => void }} opts
   */
  constructor({ url, onMessage, onClose }) {
    this.onMessage = onMessage;
    this.onClose = onClose;
    this.closedByUs = false;
    this.opened = false;
    this.ws = new WebSocket(url);
    this.ready = new Promise((resolve, reject) => {
      this.ws.addEventListener("open", () => {
        this.opened = true;
        resolve();
      });
      this.ws.addEventListener("error", () => reject(new Error("could not connect to the room server")));
    });
    this.ready.catch(() => {}); // the close handler reports it
    this.ws.addEventListener("message", (ev) => this.handleFrame(ev.data));
    this.ws.addEventListener("close", (ev) => {
      clearInterval(this.pinger);
      if (!this.closedByUs) this.onClose({ code: ev.code, reason: ev.reason, opened: this.opened });
    });
    this.pinger = setInterval(() => this.send({ type: "ping" }), PING_EVERY_MS);
  }

  handleFrame(data) {
    if (typeof data !== "string") return;
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      console.warn("signal: ignoring a frame that is not JSON");
      return;
    }
    if (msg && typeof msg.type === "string") this.onMessage(msg);
  }

  /** Sends one message if the socket is open; returns whether it was sent. */
  send(msg) {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Closes without reporting it through onClose (we chose to). Queued frames are still sent first. */
  close() {
    this.closedByUs = true;
    clearInterval(this.pinger);
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) this.ws.close(1000, "leaving");
  }
}
