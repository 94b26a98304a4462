// The room page's read-only debug hook, window.tapedeck: what tests and the browser recorder read
// (state, peers shown, published tracks, stats, chat, recording state, the participant list and, in
// recorder mode, what the recorder waits on). It reads; only sendChat acts, as the chat form does.

/**
 * @param {{ view: any, session: () => any, tiles: any, recording: any, people: any, recorder: any, recorderOpts: any,
 *           sendChat: (message: string, opts?: object) => boolean }} o
 */
export function debugHook({ view, session, tiles, recording, people, recorder, recorderOpts, sendChat }) {
  return Object.freeze({
    get state() {
      return view.state;
    },
    get peerId() {
      return session()?.self?.id ?? null;
    },
    get sessionId() {
      return session()?.sessionId ?? null;
    },
    get role() {
      return session()?.self?.role ?? null;
    },
    /** The reason the session ended (left, disconnected, fatal error), else null. */
    get reason() {
      return view.reason;
    },
    /** The last message shown in the error banner, else null. */
    get lastError() {
      return view.lastError;
    },
    get chat() {
      return view.chat.map((m) => structuredClone(m));
    },
    /** The peers shown: the grid's, or in recorder mode the recorder's tiles (with `onStage`). */
    remotePeers: () => tiles.describe(),
    /** Tracks this page publishes: [{mid, track_id, stream_id, kind, source}]. */
    published: () => session()?.publisher?.describeTracks() ?? [],
    /** inbound-rtp stats (plain object) of the track received from a peer, for `source` camera|microphone|screen. */
    inboundStats: (peerId, source) => session()?.subscriber.inboundStats(peerId, source) ?? Promise.resolve(null),
    describeSubscription: () => session()?.subscriber.describe() ?? Promise.resolve(null),
    sendChat: (message, opts) => sendChat(message, opts),
    /** The room's recording state as last told (null before), and whether the REC / LIVE badges show. */
    get recording() {
      return recording.state ? { ...structuredClone(recording.state), rec: recording.recording, live: recording.streaming } : null;
    },
    /** What this peer's role may do (room-state). */
    get permissions() {
      return { ...(session()?.permissions ?? {}) };
    },
    /** The participant list as shown: [{id, name, role, state, actions}]. */
    people: () => people.describe(),
    /** Recorder mode only (else null): what a browser recorder waits on and checks. */
    recorder: recorder
      ? Object.freeze({
          /** Joined (and still in the room). */
          get ready() {
            return view.state === "joined";
          },
          layout: recorderOpts.layout,
          roles: recorderOpts.roles ? Object.freeze([...recorderOpts.roles]) : null,
          /** [{id, name, role, videoPlaying, screenPlaying, hasAudio, onStage}] of the peers on screen. */
          shownPeers: () => recorder.describe(),
          /** The active speaker's peer id (active-speaker layout; null before anyone spoke and in grid). */
          get speaker() {
            return recorder.speaker;
          },
        })
      : null,
  });
}
