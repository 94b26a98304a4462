import dgram from "node:dgram";
import type { RtpPacket } from "werift";
import type { Config } from "../../config/config.ts";
import type { Logger } from "../../log.ts";
import type { SfuPeer } from "../../sfu/peer.ts";
import type { PublishedTrack } from "../../sfu/published-track.ts";
import type { RoomWatcher, SfuRoom } from "../../sfu/room.ts";
import { liveCompositeFiles, type LiveCompositeState, writeLiveComposite } from "../sfu/live-composite.state.ts";
import { withoutPadding } from "../sfu/track-recorder.ts";
import { COMPOSITE_CANVAS } from "../sfu/composite-layout.ts";
import { CompositorCapture, type CompositorFeed } from "./compositor-capture.ts";
import type { RoomFeedHandlers } from "./room-feed.ts";

// The SFU recording's composite, drawn live by the compositor while the session runs, so at the close
// only the file's end is left to write: the room (sfu/room.ts) tells this watcher when a session that
// records a composite opens, when its peers or tracks change, and when its last peer has left. The
// compositor is fed from the room in this process (LocalRoomFeed): each shown track's RTP is sent to its
// UDP port as the SFU receives it, with no extra WebRTC connection and no recorder peer in the session.
//
// The file and its state (recorders/sfu/live-composite.state.ts) are in the session's work folder; the
// post-processing uses the file when it is the whole session, and otherwise renders the composite from
// the track files as before (a compositor that failed, a process that died, a session that moved node).

/** Bits per second of the live composite's video (as a browser recording of the same size). */
const VIDEO_BPS = Math.round(COMPOSITE_CANVAS.width * COMPOSITE_CANVAS.height * 2.7);

interface Listening {
  pub: PublishedTrack;
  port: number | null;
  announced: boolean;
  stop: () => void;
}

/** The compositor's feed from a room of the SFU in this process: its visible peers and their tracks. */
class LocalRoomFeed implements CompositorFeed {
  private readonly tracks = new Map<string, Listening>();
  private readonly udp = dgram.createSocket("udp4");
  private closed = false;

  constructor(
    private readonly room: SfuRoom,
    private readonly handlers: RoomFeedHandlers,
  ) {}

  /** Tells the compositor who is in the room now, and starts or stops listening to tracks. */
  sync(): void {
    if (this.closed) return;
    const peers = this.room.visiblePeers();
    this.handlers.onPeers(peers.map((p) => p.info()));
    const now = new Map<string, { peer: SfuPeer; pub: PublishedTrack }>();
    for (const peer of peers) for (const pub of peer.published.values()) now.set(pub.info.track_id, { peer, pub });
    for (const [id, t] of this.tracks) {
      if (now.get(id)?.pub === t.pub) continue;
      t.stop();
      this.tracks.delete(id);
      this.handlers.onTrackGone(id);
    }
    for (const [id, { peer, pub }] of now) if (!this.tracks.has(id)) this.listen(peer.id, pub);
  }

  private listen(peerId: string, pub: PublishedTrack): void {
    const t: Listening = { pub, port: null, announced: false, stop: () => {} };
    const onRtp = (rtp: RtpPacket) => {
      if (!t.announced) {
        t.announced = true;
        const codec = pub.codec?.mimeType.split("/")[1]?.toUpperCase();
        this.handlers.onTrack({
          trackId: pub.info.track_id,
          peerId,
          kind: pub.info.kind === "audio" ? "audio" : "video",
          source: pub.info.source,
          codec: codec || (pub.info.kind === "audio" ? "OPUS" : "VP8"),
          payloadType: rtp.header.payloadType,
        });
      }
      if (t.port !== null && !this.closed) this.udp.send(rtp.serialize(), t.port, "127.0.0.1");
    };
    if (pub.info.kind === "video") {
      // Padding-only probes dropped and the sequence closed up, as for the track recorder.
      const media = withoutPadding(pub.track);
      const { unSubscribe } = media.track.onReceiveRtp.subscribe(onRtp);
      t.stop = () => {
        unSubscribe();
        media.stop();
      };
    } else {
      const stop = pub.listen(onRtp);
      t.stop = () => void stop();
    }
    this.tracks.set(pub.info.track_id, t);
  }

  route(trackId: string, port: number): void {
    const t = this.tracks.get(trackId);
    if (t) t.port = port;
  }

  requestKeyframe(trackId: string): void {
    this.tracks.get(trackId)?.pub.requestKeyframe();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.tracks.values()) t.stop();
    this.tracks.clear();
    try {
      this.udp.close();
    } catch {
      /* already closed */
    }
  }
}

interface Live {
  sessionId: string;
  feed: LocalRoomFeed | null;
  /** Settles once the compositor has started (the capture) or could not (null). */
  capture: Promise<CompositorCapture | null>;
  state: LiveCompositeState;
}

/** The live composites of the sessions of this process's rooms. */
export class SessionComposites implements RoomWatcher {
  private readonly live = new Map<string, Live>();
  private readonly log: Logger;

  constructor(private readonly ctx: { config: Config; log: Logger }) {
    this.log = ctx.log.child({ component: "session-composite" });
  }

  /** Only with the compositor as the renderer: with `browser`, the composite is rendered from the tracks (as before it existed). */
  get enabled(): boolean {
    return this.ctx.config.recording.renderer === "compositor";
  }

  opened(room: SfuRoom): void {
    const sessionId = room.sessionId;
    if (!sessionId || !this.enabled || this.live.has(sessionId)) return;
    const log = this.log.child({ session_id: sessionId, room_id: room.id });
    const { dataDir } = this.ctx.config;
    const files = liveCompositeFiles(dataDir, sessionId);
    const entry: Live = { sessionId, feed: null, capture: Promise.resolve(null), state: { state: "recording", startedAt: Date.now() } };
    const save = (s: LiveCompositeState) => {
      entry.state = s;
      try {
        writeLiveComposite(dataDir, sessionId, s);
      } catch (err) {
        log.error({ err }, "could not write the live composite's state; the composite will be rendered from the tracks");
      }
    };
    save(entry.state);
    this.live.set(sessionId, entry);
    entry.capture = CompositorCapture.start({
      feed: async (handlers) => {
        entry.feed = new LocalRoomFeed(room, handlers);
        entry.feed.sync();
        return entry.feed;
      },
      start: "now",
      width: COMPOSITE_CANVAS.width,
      height: COMPOSITE_CANVAS.height,
      audioOnly: false,
      layout: "grid",
      roles: null,
      spoolFile: files.media,
      videoBitsPerSecond: VIDEO_BPS,
      log,
    }).then(
      (cap) => {
        save({ state: "recording", startedAt: cap.startedAt });
        log.info({ late_ms: cap.startedAt - Date.parse(room.sessionStartedAt) }, "the session's composite is drawn live");
        void cap.ended.then((end) => {
          if (!end.clean)
            save({ ...entry.state, state: "failed", stoppedAt: cap.stoppedAt ?? Date.now(), message: end.message, bytes: end.bytes });
        });
        return cap;
      },
      (err: Error) => {
        log.error({ err: err.message }, "the live compositor could not start; the composite will be rendered from the tracks");
        save({ ...entry.state, state: "failed", message: `the compositor could not start: ${err.message}` });
        return null;
      },
    );
  }

  changed(room: SfuRoom): void {
    if (room.sessionId) this.live.get(room.sessionId)?.feed?.sync();
  }

  async closing(room: SfuRoom): Promise<void> {
    const entry = room.sessionId ? this.live.get(room.sessionId) : undefined;
    if (!entry) return;
    this.live.delete(entry.sessionId);
    await this.finish(entry);
  }

  private async finish(entry: Live): Promise<void> {
    const cap = await entry.capture;
    if (!cap || entry.state.state !== "recording") return;
    const t0 = Date.now();
    const end = await cap.stop();
    const state: LiveCompositeState = end.clean
      ? { state: "done", startedAt: cap.startedAt, stoppedAt: cap.stoppedAt ?? t0, bytes: end.bytes }
      : { state: "failed", startedAt: cap.startedAt, stoppedAt: cap.stoppedAt ?? t0, bytes: end.bytes, message: end.message };
    writeLiveComposite(this.ctx.config.dataDir, entry.sessionId, state);
    this.log.info(
      { session_id: entry.sessionId, state: state.state, bytes: end.bytes, stop_ms: Date.now() - t0 },
      "the session's live composite is finished",
    );
  }

  /** Shutdown without waiting: what was drawn stays, marked unfinished (the post-processing renders from the tracks). */
  async killAll(): Promise<void> {
    const all = [...this.live.values()];
    this.live.clear();
    await Promise.all(all.map(async (e) => (await e.capture)?.kill()));
  }
}
