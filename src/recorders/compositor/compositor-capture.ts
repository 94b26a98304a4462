import type { Logger } from "../../log.ts";
import { describeEnd } from "../../process/supervisor.ts";
import type { PeerInfo } from "../../sfu/protocol.ts";
import type { CaptureEnd, CaptureStepName, RecordingCapture } from "../core/capture.ts";
import { CaptureFfmpeg, type StdoutSink } from "../core/capture-ffmpeg.ts";
import type { EncoderLagSummary } from "../core/encoder-lag.ts";
import { fileSecondsAt, notePause, type PausedSpan } from "../core/known-gaps.ts";
import type { GapSpan } from "../../quality/report.ts";
import { FileFollower } from "../core/follow-file.ts";
import type { EncodedLayer } from "../core/recorder.ts";
import { type CompositorLayoutName, type LayoutPeer, type LayoutTile, layoutTiles, sameLayout } from "./compositor-layout.ts";
import { CompositorProcess } from "./compositor-process.ts";
import type { FeedTrack, RoomFeedHandlers } from "./room-feed.ts";
import { SpeakerDetector } from "./speaker.ts";

// A built-in recording made by the live compositor instead of a browser: the recorder joins the room
// (room-feed.ts), each shown track goes to the compositor process (decoded once), which places them
// (compositor-layout.ts), mixes the audio and encodes once; its output goes to the same capture ffmpeg
// as a browser's would (capture-ffmpeg.ts), so files, uploads and webhooks are those of a browser recording.
//
// No black or half-made tile: a peer appears once its placeholder (its name on a plain tile) or its
// camera has a decoded frame, and its camera replaces the placeholder once the camera's first frame is
// decoded; a muted camera shows the placeholder again. A source leaves the canvas before it is removed.
// A compositor that dies ends the capture with what was recorded and says so (as a browser crash does).
// A feed that ends before the stop (the recorder's connection to the room dropped, or the room removed
// it) leaves the recording going with nothing new to draw: from then to the end is a gap the quality
// report lists with that reason (gaps()).

/** Where the compositor's media comes from: the room's tracks, routed to the ports it gives. */
export interface CompositorFeed {
  /** Where a track's packets go from now on (the compositor's port for it). */
  route(trackId: string, port: number): void;
  /** Asks the track's sender for a keyframe. */
  requestKeyframe(trackId: string): void;
  close(): Promise<void>;
}

/**
 * Opens the feed, telling `handlers` who is in the room and what arrives: the recorder joining over
 * signalling (room-feed.ts RoomFeed.join), or the SFU's room in this process (session-composite.ts).
 */
export type FeedFactory = (handlers: RoomFeedHandlers) => Promise<CompositorFeed>;

export interface CompositorCaptureOptions {
  feed: FeedFactory;
  /**
   * "picture" (default): the file starts once the room's picture is complete (every present camera
   * decoded) or FIRST_PICTURE_MS has passed. "now": it starts as soon as the feed is open (a session's
   * composite, whose time 0 is the session's start; peers appear as their media comes).
   */
  start?: "picture" | "now";
  width: number;
  height: number;
  audioOnly: boolean;
  layout: CompositorLayoutName;
  /** Only these roles are shown and heard (null: every visible peer). */
  roles: string[] | null;
  spoolFile: string;
  ffmpegArgs?: string[];
  stdout?: StdoutSink;
  videoBitsPerSecond: number;
  /** The video layers to encode (a live ladder); default one at the canvas size. */
  layers?: EncodedLayer[];
  log: Logger;
  onStep?: (step: CaptureStepName) => void;
  /** A live output: sample its encoder's lag behind real time (capture-ffmpeg.ts lagFrom). */
  live?: boolean;
}

/** How long a joining peer waits for its camera's first decoded frame (from its join or its camera's appearance) before its name tile is shown instead. */
const CAMERA_WAIT_MS = 1500;
/** At most one keyframe request per track this often. */
const KEYFRAME_EVERY_MS = 300;
/** The longest a recording waits for the room's picture (every present camera decoded) before it starts anyway. */
const FIRST_PICTURE_MS = 2500;
/**
 * A feed lost less than this before the file's end is not a gap: the recorder removed while its recording
 * was being stopped (a stop racing a removal; the worker applies stops once a second) is the file's end.
 */
const FEED_END_GRACE_MS = 2000;

interface Source {
  key: string;
  trackId: string;
  peerId: string;
  kind: "audio" | "video";
  screen: boolean;
  ready: boolean;
}

export class CompositorCapture implements RecordingCapture {
  readonly ended: Promise<CaptureEnd>;
  readonly follower: FileFollower;
  startedAt = 0;
  stoppedAt: number | null = null;
  private endWith!: (e: CaptureEnd) => void;
  private readonly comp: CompositorProcess;
  private readonly ffmpeg: CaptureFfmpeg;
  private feed: CompositorFeed | null = null;
  private stopping = false;
  private failure: string | null = null;
  private nextKey = 0;
  private peers: PeerInfo[] = [];
  /** Placeholder source per shown peer, and whether it has a frame yet. */
  private readonly placeholders = new Map<string, { key: string; ready: boolean; name: string; since: number }>();
  private readonly sources = new Map<string, Source>();
  private readonly byKey = new Map<string, Source>();
  private readonly speaker = new SpeakerDetector();
  private tiles: LayoutTile[] = [];
  /** Tracks whose first packet came before their peer was known: added once it is. */
  private readonly pending = new Map<string, FeedTrack>();
  private readonly keyframeAskedAt = new Map<string, number>();
  /** When each camera track was first announced (a joining peer waits for its picture from then). */
  private readonly cameraSeen = new Map<string, number>();
  /** The output is held until the room's picture is ready (or FIRST_PICTURE_MS has passed). */
  private held = true;
  private releasedNow!: () => void;
  private readonly released = new Promise<void>((resolve) => (this.releasedNow = resolve));
  /** Paused spans (wall ms), left out of the file: the file's time of a moment is its wall time less these. */
  private readonly pauses: PausedSpan[] = [];
  /** The feed ended before the stop: when, and why. */
  private feedLost: { at: number; reason: string } | null = null;

  get firstDataAt(): number | null {
    return this.ffmpeg.firstDataAt;
  }

  private constructor(private readonly o: CompositorCaptureOptions) {
    this.follower = new FileFollower(o.spoolFile);
    this.ended = new Promise((resolve) => (this.endWith = resolve));
    this.ffmpeg = new CaptureFfmpeg({
      spoolFile: o.spoolFile,
      follower: this.follower,
      ffmpegArgs: o.ffmpegArgs,
      stdout: o.stdout,
      // Measured while it is written: the report is ready when the file is (core/quality.ts).
      quality: { expectVideo: !o.audioOnly, expectAudio: true },
      // Counted from the released output's first frame (startedAt, 0 while held).
      lagFrom: o.live ? () => this.startedAt : undefined,
      log: o.log,
    });
    this.comp = new CompositorProcess({
      width: o.width,
      height: o.height,
      videoKbps: Math.round(o.videoBitsPerSecond / 1000),
      layers: o.layers,
      audioOnly: o.audioOnly,
      held: true,
      log: o.log,
      onData: (chunk) => this.ffmpeg.write(chunk),
    });
    this.comp.onEvent((e) => {
      if (e.ev === "first-frame") this.frameReady(e.id);
      else if (e.ev === "keyframe") this.keyframeWanted(e.id);
      else if (e.ev === "levels") this.levels(e.levels);
      else if (e.ev === "error") o.log.warn({ source: e.id, err: e.message }, "compositor: a source failed");
    });
    // The compositor's output ended (a stop, or it died): ffmpeg finishes the file.
    void this.comp.ended.then((end) => {
      if (!this.stopping) this.fail(`the compositor exited: ${describeEnd(end)}`);
      this.ffmpeg.stop();
    });
    void this.ffmpeg.ended.then((why) => {
      if (!this.stopping) this.fail(why);
      void this.comp.kill();
      void this.feed?.close();
      this.endWith({
        clean: !this.failure,
        message: [
          this.failure ?? "stopped",
          this.ffmpeg.bytes === 0 ? `${why}, after ${this.ffmpeg.chunkBytes} bytes from the compositor` : "",
        ]
          .filter(Boolean)
          .join("; "),
        bytes: this.ffmpeg.bytes,
      });
    });
  }

  /** Starts the compositor, joins the room, and starts composing. */
  static async start(o: CompositorCaptureOptions): Promise<CompositorCapture> {
    o.onStep?.("joining_room");
    const cap = new CompositorCapture(o);
    try {
      await cap.comp.ready;
      cap.feed = await o.feed({
        onPeers: (peers) => cap.setPeers(peers),
        onTrack: (t) => void cap.addTrack(t),
        onTrackGone: (id) => cap.trackGone(id),
        onEnd: (reason) => {
          cap.release("the recorder's connection ended");
          if (cap.stopping) return;
          cap.feedLost ??= { at: Date.now(), reason };
          o.log.warn({ reason }, "compositor: the recorder's connection to the room ended; composing what is left");
        },
      });
      o.onStep?.("starting_capture");
      o.log.info({ width: o.width, height: o.height, layout: o.layout, pid: cap.comp.proc.pid }, "compositor recording");
      setTimeout(() => cap.release(`the picture was not complete within ${FIRST_PICTURE_MS} ms`), FIRST_PICTURE_MS).unref();
      cap.relayout();
      if (o.start === "now") cap.release();
      // Started once the file's first frame is decided (its time 0): a pause or a stop from now on is one of the file.
      const ended = cap.ended.then((e) => {
        throw new Error(`the compositor ended before its first frame: ${e.message}`);
      });
      ended.catch(() => {});
      await Promise.race([cap.released, ended]);
      return cap;
    } catch (err) {
      await cap.kill();
      throw err;
    }
  }

  private shown(p: PeerInfo): boolean {
    return !this.o.roles || this.o.roles.includes(p.role);
  }

  private setPeers(peers: PeerInfo[]): void {
    this.peers = peers.filter((p) => this.shown(p)).sort((a, b) => a.joined_at.localeCompare(b.joined_at));
    const present = new Set(this.peers.map((p) => p.id));
    for (const p of this.peers) {
      for (const t of p.tracks) {
        if (t.kind !== "video" || t.source === "screen" || this.cameraSeen.has(t.track_id)) continue;
        this.cameraSeen.set(t.track_id, Date.now());
        setTimeout(() => this.relayout(), CAMERA_WAIT_MS + 10).unref();
      }
      const ph = this.placeholders.get(p.id);
      if (!ph) {
        const key = `p${this.nextKey++}`;
        this.placeholders.set(p.id, { key, ready: false, name: p.name, since: Date.now() });
        if (!this.o.audioOnly) this.comp.addPlaceholder(key, p.name);
        setTimeout(() => this.relayout(), CAMERA_WAIT_MS + 10).unref();
      } else if (ph.name !== p.name) {
        ph.name = p.name;
        this.comp.rename(ph.key, p.name);
        for (const s of this.sources.values()) if (s.peerId === p.id && s.kind === "video" && !s.screen) this.comp.rename(s.key, p.name);
      }
    }
    const gone = [...this.placeholders].filter(([id]) => !present.has(id));
    for (const [id] of gone) this.placeholders.delete(id);
    this.relayout();
    for (const [, ph] of gone) this.comp.remove(ph.key);
    for (const s of [...this.sources.values()]) if (!present.has(s.peerId)) this.dropSource(s);
    for (const t of [...this.pending.values()]) if (present.has(t.peerId)) void this.addTrack(t);
  }

  private async addTrack(t: FeedTrack): Promise<void> {
    const peer = this.peers.find((p) => p.id === t.peerId);
    if (!peer) {
      // Its peer's join may come after its first packet: added then (or never, for a role not shown).
      this.pending.set(t.trackId, t);
      return;
    }
    this.pending.delete(t.trackId);
    if (this.sources.has(t.trackId) || (this.o.audioOnly && t.kind === "video")) return;
    const s: Source = {
      key: `t${this.nextKey++}`,
      trackId: t.trackId,
      peerId: t.peerId,
      kind: t.kind,
      screen: t.source === "screen",
      ready: false,
    };
    this.sources.set(t.trackId, s);
    this.byKey.set(s.key, s);
    const port = await this.comp.addRtp(s.key, t.kind, t.codec, t.payloadType, s.screen ? "" : peer.name);
    if (this.sources.get(t.trackId) !== s) return;
    this.feed?.route(t.trackId, port);
    if (t.kind === "video") this.feed?.requestKeyframe(t.trackId);
  }

  /** The compositor lost packets of a track: one keyframe request to its sender per KEYFRAME_EVERY_MS (a loss burst asks many times). */
  private keyframeWanted(key: string): void {
    const s = this.byKey.get(key);
    if (!s) return;
    const now = Date.now();
    if (now - (this.keyframeAskedAt.get(key) ?? 0) < KEYFRAME_EVERY_MS) return;
    this.keyframeAskedAt.set(key, now);
    this.feed?.requestKeyframe(s.trackId);
  }

  private trackGone(trackId: string): void {
    this.pending.delete(trackId);
    const s = this.sources.get(trackId);
    if (s) this.dropSource(s);
  }

  private dropSource(s: Source): void {
    this.sources.delete(s.trackId);
    this.byKey.delete(s.key);
    this.relayout();
    this.comp.remove(s.key);
  }

  private frameReady(key: string): void {
    const s = this.byKey.get(key);
    if (s) s.ready = true;
    for (const ph of this.placeholders.values()) if (ph.key === key) ph.ready = true;
    this.relayout();
  }

  private levels(levels: Record<string, number>): void {
    const byPeer: Record<string, number> = {};
    for (const [key, db] of Object.entries(levels)) {
      const s = this.byKey.get(key);
      if (s) byPeer[s.peerId] = Math.max(byPeer[s.peerId] ?? -127, db);
    }
    if (this.speaker.update(byPeer, Date.now()) && this.o.layout === "active-speaker") this.relayout();
  }

  private muted(peer: PeerInfo, trackId: string): boolean {
    return peer.tracks.find((t) => t.track_id === trackId)?.muted ?? false;
  }

  /** What each shown peer has ready to show now. */
  private layoutPeers(): LayoutPeer[] {
    const out: LayoutPeer[] = [];
    for (const p of this.peers) {
      const mine = [...this.sources.values()].filter(
        (s) => s.peerId === p.id && s.kind === "video" && s.ready && !this.muted(p, s.trackId),
      );
      const camera = mine.find((s) => !s.screen);
      const screen = mine.find((s) => s.screen);
      const ph = this.placeholders.get(p.id);
      // A peer not on the canvas yet without a decoded camera is left out for a moment (CAMERA_WAIT_MS from
      // its join, or from when its camera appeared if later: its first packets come a while after the join)
      // rather than shown as a name tile that its picture replaces at once. One already shown stays (as its
      // name tile) until its picture comes.
      const cameraOn = p.tracks.find((t) => t.kind === "video" && t.source !== "screen" && !t.muted);
      const since = Math.max(ph?.since ?? 0, (cameraOn && this.cameraSeen.get(cameraOn.track_id)) || 0);
      const shown = this.tiles.some((t) => t.peerId === p.id);
      // Before the file starts, a peer without a camera is shown at once (the first frame has everyone).
      const waiting = !camera && ph && !shown && (cameraOn || !this.held) && Date.now() - since < CAMERA_WAIT_MS;
      const tile = camera?.key ?? (ph?.ready && !waiting ? ph.key : undefined);
      if (!tile) continue;
      out.push({ peerId: p.id, tileSource: tile, screenSource: screen?.key });
    }
    return out;
  }

  relayout(): void {
    if (!this.o.audioOnly) {
      const tiles = layoutTiles({
        width: this.o.width,
        height: this.o.height,
        layout: this.o.layout,
        peers: this.layoutPeers(),
        speaker: this.speaker.current,
      });
      if (!sameLayout(tiles, this.tiles)) {
        this.tiles = tiles;
        this.comp.layout(tiles);
      }
    }
    // After the layout: the compositor starts the file at the first frame composed with it.
    if (this.held && this.pictureComplete()) this.release();
  }

  /** Is every shown peer on the canvas, with its camera when it has one on? */
  private pictureComplete(): boolean {
    if (!this.feed) return false;
    if (this.o.audioOnly) return true;
    const shown = new Map(this.layoutPeers().map((p) => [p.peerId, p]));
    return this.peers.every((p) => {
      const camera = p.tracks.find((t) => t.kind === "video" && t.source !== "screen" && !t.muted);
      const l = shown.get(p.id);
      return l && (!camera || this.sources.get(camera.track_id)?.key === l.tileSource);
    });
  }

  /** The output starts: its time 0 is now. */
  private release(why?: string): void {
    if (!this.held) return;
    this.held = false;
    this.startedAt = Date.now();
    this.releasedNow();
    if (why && this.o.start !== "now") this.o.log.info({ why }, "compositor: starting the recording without the whole picture");
    else this.o.log.debug("compositor: the picture is complete; the recording starts");
    this.comp.resume();
  }

  async pause(): Promise<void> {
    notePause(this.pauses, true);
    this.comp.pause();
  }

  async resume(): Promise<void> {
    notePause(this.pauses, false);
    this.comp.resume();
  }

  encoderLag(): EncoderLagSummary | null {
    return this.ffmpeg.encoderLag();
  }

  /** The file's time (s) of wall time `t` (ms): from its start, less the paused spans before `t`. */
  private fileSeconds(t: number): number {
    return this.startedAt ? fileSecondsAt(t, this.startedAt, this.pauses) : 0;
  }

  /** The feed lost before the stop: a gap from then to the file's end (unless within FEED_END_GRACE_MS of it). */
  gaps(): GapSpan[] {
    if (!this.feedLost) return [];
    const start = this.fileSeconds(this.feedLost.at);
    const end = this.fileSeconds(this.stoppedAt ?? Date.now());
    if ((end - start) * 1000 < FEED_END_GRACE_MS) return [];
    return [
      { start, end, reason: `the recorder's connection to the room ended (${this.feedLost.reason}): nothing new was drawn after it` },
    ];
  }

  /** Leaves the room, lets the compositor finish its output and ffmpeg its file; resolves with how it ended. */
  async stop(): Promise<CaptureEnd> {
    if (!this.stopping && !this.failure) {
      this.stopping = true;
      this.stoppedAt ??= Date.now();
      await this.feed?.close();
      void this.comp.stop();
    }
    return this.ended;
  }

  private fail(message: string): void {
    if (this.stopping || this.failure) return;
    this.failure = message;
    this.stoppedAt ??= Date.now();
    this.o.log.error({ reason: message }, "compositor recording interrupted; keeping what was recorded");
  }

  async kill(): Promise<void> {
    this.stopping = true;
    await this.feed?.close();
    this.ffmpeg.kill();
    await this.comp.kill();
    await this.ended;
  }
}
