import dgram from "node:dgram";
import { RTCPeerConnection, type RTCRtpTransceiver, type RtpPacket } from "werift";
import { WebSocket, type ClientOptions } from "ws";
import type { Logger } from "../../log.ts";
import { OPUS, VP8 } from "../../sfu/media-config.ts";
import type { PeerInfo, ServerMessage, SubscribedTrack } from "../../sfu/protocol.ts";
import { withoutPadding } from "../sfu/track-recorder.ts";

// The live compositor's way into a room: it joins as tapedeck's hidden recorder (the same token and
// role the recorder page gets), over the same signalling as any peer (so in a cluster it reaches the
// room's SFU node from wherever it runs), receives every track its role subscribes to with werift, and
// sends each track's RTP to the local UDP port the compositor gave it. It tells its owner who is in the
// room, what each one publishes, when a track's first packet arrives, and asks a sender for a keyframe
// when the compositor asks.

export interface FeedTrack {
  trackId: string;
  peerId: string;
  kind: "audio" | "video";
  source: string;
  /** "VP8", "H264", "OPUS". */
  codec: string;
  payloadType: number;
}

export interface RoomFeedHandlers {
  /** The room's (visible) peers changed: joins, leaves, names, tracks, mutes. */
  onPeers(peers: PeerInfo[]): void;
  /** A subscribed track's first packet arrived: route it with feed.route(trackId, port). */
  onTrack(track: FeedTrack): void;
  /** A track is no longer received (unpublished, or its peer left). */
  onTrackGone(trackId: string): void;
  /** The feed ended: the socket closed, or the SFU refused or removed the recorder. */
  onEnd(reason: string): void;
}

export interface RoomFeedOptions {
  baseUrl: string;
  token: string;
  name: string;
  log: Logger;
  ws?: ClientOptions;
  handlers: RoomFeedHandlers;
}

interface Receiving {
  info: SubscribedTrack;
  transceiver: RTCRtpTransceiver;
  ssrc: number;
  port: number | null;
  announced: boolean;
}

const JOIN_TIMEOUT_MS = 10_000;

export class RoomFeed {
  private readonly peers = new Map<string, PeerInfo>();
  private readonly ws: WebSocket;
  private pc: RTCPeerConnection | null = null;
  private readonly byMid = new Map<string, Receiving>();
  private readonly udp = dgram.createSocket("udp4");
  private offered: SubscribedTrack[] = [];
  private closed = false;

  private constructor(private readonly o: RoomFeedOptions) {
    this.ws = new WebSocket(`${o.baseUrl.replace(/^http/, "ws")}/sfu/ws`, o.ws);
  }

  /** Joins the room; resolves once joined (the peers known), rejects when the join is refused or times out. */
  static async join(o: RoomFeedOptions): Promise<RoomFeed> {
    const feed = new RoomFeed(o);
    await feed.start();
    return feed;
  }

  private start(): Promise<void> {
    const { ws, o } = this;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the recorder did not join the room within ${JOIN_TIMEOUT_MS / 1000} s`)),
        JOIN_TIMEOUT_MS,
      );
      ws.once("open", () => ws.send(JSON.stringify({ type: "join", token: o.token, name: o.name })));
      ws.once("error", (err) => {
        clearTimeout(timer);
        reject(new Error(`the recorder could not reach the room: ${err.message}`));
      });
      ws.on("close", (code, why) => this.end(`the room's connection closed (${code}${why.length ? ` ${why}` : ""})`));
      ws.on("message", (data) => {
        let msg: ServerMessage;
        try {
          msg = JSON.parse(String(data)) as ServerMessage;
        } catch {
          return;
        }
        if (msg.type === "joined") {
          clearTimeout(timer);
          for (const p of msg.peers) this.peers.set(p.id, p);
          resolve();
          o.handlers.onPeers([...this.peers.values()]);
        } else if (msg.type === "error" && msg.fatal) {
          clearTimeout(timer);
          reject(new Error(`the room refused the recorder: ${msg.message}`));
          this.end(`the room removed the recorder: ${msg.message}`);
        } else this.onMessage(msg);
      });
    });
  }

  private onMessage(msg: ServerMessage): void {
    const { handlers } = this.o;
    if (msg.type === "peer-joined" || msg.type === "peer-updated") {
      this.peers.set(msg.peer.id, msg.peer);
      handlers.onPeers([...this.peers.values()]);
    } else if (msg.type === "peer-left") {
      this.peers.delete(msg.peer_id);
      handlers.onPeers([...this.peers.values()]);
    } else if (msg.type === "subscribe-offer") {
      this.answer(msg.sdp, msg.tracks).catch((err: Error) => this.o.log.warn({ err: err.message }, "compositor feed: subscribe failed"));
    } else if (msg.type === "subscribe-reset") {
      void this.pc?.close().catch(() => {});
      this.pc = null;
      this.retarget([]);
    }
  }

  private async answer(sdp: string, tracks: SubscribedTrack[]): Promise<void> {
    if (this.closed) return;
    if (!this.pc) {
      const pc = new RTCPeerConnection({ codecs: { video: [VP8()], audio: [OPUS()] }, iceUseIpv6: false, bundlePolicy: "max-bundle" });
      this.pc = pc;
      pc.onRemoteTransceiverAdded.subscribe((t) => {
        t.onTrack.subscribe((track) => {
          // Chromium's bandwidth probes without RTX (padding-only packets on the media SSRC) are dropped and
          // the sequence numbers closed up, as for the track recorder: the compositor's jitter buffer sees no loss.
          const media = track.kind === "video" ? withoutPadding(track).track : track;
          media.onReceiveRtp.subscribe((rtp) => this.onRtp(t, rtp, track.codec?.mimeType ?? ""));
        });
      });
    }
    this.retarget(tracks);
    await this.pc.setRemoteDescription({ type: "offer", sdp });
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    this.send({ type: "subscribe-answer", sdp: this.pc.localDescription!.sdp });
  }

  /** The offer's tracks replace what each mid carries; tracks no longer offered are gone. */
  private retarget(tracks: SubscribedTrack[]): void {
    const now = new Set(tracks.map((t) => t.track_id));
    for (const t of this.offered) if (!now.has(t.track_id)) this.o.handlers.onTrackGone(t.track_id);
    for (const [mid, r] of this.byMid) {
      const same = tracks.find((t) => t.mid === mid && t.track_id === r.info.track_id);
      if (!same) this.byMid.delete(mid);
    }
    this.offered = tracks;
  }

  private onRtp(t: RTCRtpTransceiver, rtp: RtpPacket, mimeType: string): void {
    const mid = t.mid;
    if (!mid) return;
    let r = this.byMid.get(mid);
    if (!r) {
      const info = this.offered.find((x) => x.mid === mid);
      if (!info) return;
      r = { info, transceiver: t, ssrc: rtp.header.ssrc, port: null, announced: false };
      this.byMid.set(mid, r);
    }
    if (!r.announced) {
      r.announced = true;
      r.ssrc = rtp.header.ssrc;
      const codec = mimeType.split("/")[1] ?? "";
      this.o.handlers.onTrack({
        trackId: r.info.track_id,
        peerId: r.info.peer_id,
        kind: r.info.kind === "audio" ? "audio" : "video",
        source: r.info.source,
        codec: codec.toUpperCase() || (r.info.kind === "audio" ? "OPUS" : "VP8"),
        payloadType: rtp.header.payloadType,
      });
    }
    if (r.port === null) return;
    this.udp.send(rtp.serialize(), r.port, "127.0.0.1");
  }

  /** Where a track's packets go from now on (the compositor's port for it). */
  route(trackId: string, port: number): void {
    for (const r of this.byMid.values()) if (r.info.track_id === trackId) r.port = port;
  }

  /** Asks the track's sender for a keyframe (the compositor lost packets of it). */
  requestKeyframe(trackId: string): void {
    for (const r of this.byMid.values()) if (r.info.track_id === trackId) void r.transceiver.receiver.sendRtcpPLI(r.ssrc).catch(() => {});
  }

  private send(m: unknown): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(m));
  }

  private end(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    void this.close();
    this.o.handlers.onEnd(reason);
  }

  /** Leaves the room and closes everything. */
  async close(): Promise<void> {
    this.closed = true;
    this.send({ type: "leave" });
    this.ws.close();
    await this.pc?.close().catch(() => {});
    this.pc = null;
    try {
      this.udp.close();
    } catch {
      /* already closed */
    }
  }
}
