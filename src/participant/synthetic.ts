import { randomUUID } from "node:crypto";
import { MediaStream, MediaStreamTrack, RTCPeerConnection } from "werift";
import { WebSocket } from "ws";
import { buildLoopedFileArgs, buildSyntheticSourceArgs } from "../media/ffmpeg-args.ts";
import { OPUS, VP8 } from "../sfu/media-config.ts";
import type { ServerMessage } from "../sfu/protocol.ts";
import { type RtpSource, startRtpSource } from "./rtp-source.ts";

// A participant without a browser, for demos, tests and benchmarks: joins a room over the signalling
// protocol and publishes ffmpeg-generated media (a running clock and a beep). It accepts whatever the
// SFU sends it and counts the RTP, so it can also stand in for a viewer.

export interface SyntheticOptions {
  baseUrl: string;
  token: string;
  name: string;
  width?: number;
  height?: number;
  fps?: number;
  videoBitrateKbps?: number;
  /** Loop this VP8/Opus WebM instead of encoding live (see buildSyntheticFileArgs): far cheaper. */
  mediaFile?: string;
  /** Seconds between keyframes (default 1). */
  keyframeIntervalSeconds?: number;
  /** Publish nothing (a pure viewer). */
  viewOnly?: boolean;
  durationSeconds?: number;
  onMessage?: (msg: ServerMessage) => void;
}

export interface SyntheticParticipant {
  peerId: string;
  sessionId: string;
  /** RTP packets received per subscribed peer id and kind. */
  received: Map<string, { audio: number; video: number }>;
  /** Resolves when the session ends (leave(), socket closed, ffmpeg ended). */
  done: Promise<string>;
  leave(): Promise<void>;
}

export async function joinSynthetic(o: SyntheticOptions): Promise<SyntheticParticipant> {
  const ws = new WebSocket(`${o.baseUrl.replace(/^http/, "ws")}/sfu/ws`);
  await new Promise<void>((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const send = (m: unknown) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(m));
  const config = { codecs: { video: [VP8()], audio: [OPUS()] }, iceUseIpv6: false, bundlePolicy: "max-bundle" as const };
  const received = new Map<string, { audio: number; video: number }>();
  let subscribePc: RTCPeerConnection | null = null;
  let publishPc: RTCPeerConnection | null = null;
  let source: RtpSource | null = null;
  let finish!: (why: string) => void;
  const done = new Promise<string>((resolve) => (finish = resolve));
  let cleaned = false;

  const joined = new Promise<Extract<ServerMessage, { type: "joined" }>>((resolve, reject) => {
    ws.on("message", (data) => {
      const msg = JSON.parse(String(data)) as ServerMessage;
      o.onMessage?.(msg);
      if (msg.type === "joined") resolve(msg);
      else if (msg.type === "error" && msg.fatal) reject(new Error(`${msg.code} ${msg.message}`));
      else if (msg.type === "publish-answer")
        publishPc?.setRemoteDescription({ type: "answer", sdp: msg.sdp }).catch((err: Error) => finish(`publish failed: ${err.message}`));
      else if (msg.type === "subscribe-offer")
        answerSubscribe(msg.sdp, msg.tracks).catch((err: Error) => finish(`subscribe failed: ${err.message}`));
      else if (msg.type === "subscribe-reset") {
        // Nothing left to receive: the SFU closed the connection; its next offer starts a new one.
        void subscribePc?.close().catch(() => {});
        subscribePc = null;
        currentTracks = [];
      }
    });
  });
  ws.on("close", () => finish("websocket closed"));

  const answerSubscribe = async (sdp: string, tracks: Array<{ mid: string; peer_id: string; kind: "audio" | "video" }>) => {
    if (cleaned) return;
    if (!subscribePc) {
      subscribePc = new RTCPeerConnection(config);
      subscribePc.onRemoteTransceiverAdded.subscribe((t) => {
        t.onTrack.subscribe((track) => {
          track.onReceiveRtp.subscribe(() => {
            const info = currentTracks.find((x) => x.mid === t.mid);
            if (!info) return;
            const c = received.get(info.peer_id) ?? { audio: 0, video: 0 };
            c[info.kind]++;
            received.set(info.peer_id, c);
          });
        });
      });
    }
    currentTracks = tracks;
    await subscribePc.setRemoteDescription({ type: "offer", sdp });
    await subscribePc.setLocalDescription(await subscribePc.createAnswer());
    send({ type: "subscribe-answer", sdp: subscribePc.localDescription!.sdp });
  };
  let currentTracks: Array<{ mid: string; peer_id: string; kind: "audio" | "video" }> = [];

  send({ type: "join", token: o.token, name: o.name });
  const j = await joined;

  if (!o.viewOnly) {
    publishPc = new RTCPeerConnection(config);
    const streamId = randomUUID();
    const video = new MediaStreamTrack({ kind: "video" });
    const audio = new MediaStreamTrack({ kind: "audio" });
    const stream = new MediaStream({ id: streamId, tracks: [video, audio] });
    const tv = publishPc.addTransceiver(video, { direction: "sendonly", streams: [stream] });
    const ta = publishPc.addTransceiver(audio, { direction: "sendonly", streams: [stream] });
    await publishPc.setLocalDescription(await publishPc.createOffer());
    send({
      type: "publish",
      sdp: publishPc.localDescription!.sdp,
      tracks: [
        { mid: tv.mid, track_id: video.id, stream_id: streamId, kind: "video", source: "camera" },
        { mid: ta.mid, track_id: audio.id, stream_id: streamId, kind: "audio", source: "microphone" },
      ],
    });
    // Media starts once the connection is up: werift drops what is sent before DTLS is done, and a
    // participant with a fixed duration would lose its first seconds (its recording comes out short).
    // A connection that is slow to come up does not hold the media back for ever.
    await connectedOrTimeout(publishPc, CONNECT_WAIT_MS);
    source = await startRtpSource(video, audio, (rtp) =>
      o.mediaFile
        ? buildLoopedFileArgs({ file: o.mediaFile, ...rtp })
        : buildSyntheticSourceArgs({
            ...rtp,
            width: o.width ?? 1280,
            height: o.height ?? 720,
            fps: o.fps ?? 30,
            label: o.name,
            videoBitrateKbps: o.videoBitrateKbps ?? 1500,
            durationSeconds: o.durationSeconds ?? 0,
            keyframeIntervalSeconds: o.keyframeIntervalSeconds,
          }),
    );
    void source.ffmpeg.ended.then((end) =>
      finish(
        end.reason === "exited"
          ? "media ended"
          : `ffmpeg exited with ${end.code ?? end.signal ?? end.error?.code}: ${end.stderrTail.slice(-10).join("\n")}`,
      ),
    );
  }

  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    const stopped = source?.stop(); // SIGTERM, SIGKILL after 2 s; the sockets closed
    await publishPc?.close().catch(() => {});
    await subscribePc?.close().catch(() => {});
    await stopped;
  };
  void done.then(cleanup);

  return {
    peerId: j.peer.id,
    sessionId: j.session_id,
    received,
    done,
    async leave() {
      send({ type: "leave" });
      ws.close();
      finish("left");
      await cleanup();
    },
  };
}

const CONNECT_WAIT_MS = 10_000;

function connectedOrTimeout(pc: RTCPeerConnection, ms: number): Promise<void> {
  if (pc.connectionState === "connected") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    const sub = pc.connectionStateChange.subscribe((state) => {
      if (state === "connected" || state === "failed" || state === "closed") done();
    });
    function done(): void {
      clearTimeout(timer);
      sub.unSubscribe();
      resolve();
    }
  });
}
