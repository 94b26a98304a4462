// Recording and live streaming as the people in the room see them: a REC and a LIVE badge in the header
// while any recording (browser or SFU) or live stream of the room runs, a line in the chat when one
// starts or stops, and, for a role the template lets record or stream, buttons to start and stop them.
// The state comes from the server (`recording-state`, whoever started the recording: the REST API, a
// template's auto-start, a 100ms app or this page); the buttons only ask for a change.

export class RecordingBar {
  /**
   * @param {{ rec: HTMLElement, live: HTMLElement, recordButton: HTMLButtonElement, streamButton: HTMLButtonElement,
   *           announce: (text: string) => void, request: (msg: object) => Promise<void>, showError: (text: string) => void }} opts
   */
  constructor(opts) {
    Object.assign(this, opts);
    /** The last state the server sent (null before the first). */
    this.state = null;
    this.permissions = {};
    /** "recording" | "stream" while its start or stop was asked and the state has not followed yet. */
    this.waiting = new Set();
    this.recordButton.addEventListener("click", () => void this.toggle("recording"));
    this.streamButton.addEventListener("click", () => void this.toggle("stream"));
  }

  get recording() {
    return Boolean(this.state?.recording.browser.running || this.state?.recording.sfu.running);
  }

  get streaming() {
    return Boolean(this.state?.stream.running);
  }

  /** What the role may do (room-state): the buttons show only for a role that may use them. */
  setPermissions(permissions) {
    this.permissions = permissions ?? {};
    this.render();
  }

  /** A new recording state: the badges follow it, and each change is said in the chat. */
  update(state) {
    const before = this.state;
    this.state = state;
    const was = { rec: before ? recordingOf(before) : false, live: before ? liveOf(before) : false };
    const now = { rec: recordingOf(state), live: liveOf(state) };
    if (!before) {
      if (now.rec) this.announce("This room is being recorded.");
      if (now.live) this.announce("This room is being streamed live.");
    } else {
      if (now.rec !== was.rec) this.announce(now.rec ? "Recording started." : "Recording stopped.");
      if (now.live !== was.live) this.announce(now.live ? "Live stream started." : "Live stream ended.");
      const paused = state.recording.browser.paused;
      if (now.rec && was.rec && paused !== before.recording.browser.paused)
        this.announce(paused ? "Recording paused." : "Recording resumed.");
    }
    if (now.rec !== was.rec) this.waiting.delete("recording");
    if (Boolean(state.stream.running) !== Boolean(before?.stream.running)) this.waiting.delete("stream");
    this.render();
  }

  async toggle(what) {
    const running = what === "recording" ? this.recording : this.streaming;
    if (running) {
      const question = what === "recording" ? "Stop the recording for everyone?" : "End the live stream for everyone?";
      if (!window.confirm(question)) return;
    }
    this.waiting.add(what);
    this.render();
    try {
      await this.request({ type: "recording", action: running ? "stop" : "start", what });
    } catch (err) {
      this.waiting.delete(what);
      this.render();
      this.showError(`Could not ${running ? "stop" : "start"} the ${what === "recording" ? "recording" : "live stream"}: ${err.message}`);
    }
  }

  render() {
    const paused = Boolean(this.state?.recording.browser.paused);
    this.rec.hidden = !this.recording;
    this.rec.textContent = paused ? "REC paused" : "REC";
    this.rec.title = this.recording ? describe(this.state) : "";
    this.live.hidden = !liveOf(this.state);
    const button = (b, what, may, running, labels) => {
      b.hidden = !may;
      const waiting = this.waiting.has(what);
      b.disabled = waiting || !this.state;
      b.setAttribute("aria-pressed", String(running));
      b.textContent = waiting ? (running ? labels.stopping : labels.starting) : running ? labels.stop : labels.start;
    };
    button(this.recordButton, "recording", this.permissions.browserRecording === true, this.recording, {
      start: "Record",
      stop: "Stop recording",
      starting: "Starting recording…",
      stopping: "Stopping…",
    });
    button(this.streamButton, "stream", this.permissions.hlsStreaming === true, this.streaming, {
      start: "Go live",
      stop: "End live stream",
      starting: "Going live…",
      stopping: "Ending…",
    });
  }

  reset() {
    this.state = null;
    this.waiting.clear();
    this.permissions = {};
    this.render();
  }
}

/** LIVE: a live stream (HLS) or an external stream (RTMP out) runs. */
function liveOf(state) {
  return Boolean(state?.stream.running || state?.rtmp?.running);
}

function recordingOf(state) {
  return Boolean(state.recording.browser.running || state.recording.sfu.running);
}

function describe(state) {
  const kinds = [];
  if (state.recording.browser.running) kinds.push("a recording of the room");
  if (state.recording.sfu.running) kinds.push("each participant's audio and video");
  return `Being recorded: ${kinds.join(" and ")}`;
}
