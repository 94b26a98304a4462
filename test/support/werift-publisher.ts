import { randomUUID } from "node:crypto";
import {
  MediaStream,
  MediaStreamTrack,
  PictureLossIndication,
  RTCPeerConnection,
  type RTCRtpTransceiver,
  RtcpPayloadSpecificFeedback,
  type RtpPacket,
} from "werift";
import { buildLoopedFileArgs, buildSyntheticFileArgs } from "../../src/media/ffmpeg-args.ts";
import { startRtpSource } from "../../src/participant/rtp-source.ts";
import { superviseProcess } from "../../src/process/supervisor.ts";
import { OPUS, VP8 } from "../../src/sfu/media-config.ts";
import { SignalClient } from "./signal-client.ts";

// A werift publisher a test steers: it joins over signalling (SignalClient), publishes a VP8 + Opus WebM
// (made once with makePublisherMedia, sent by ffmpeg as real RTP without re-encoding: cheap, so it keeps
// its pace on a loaded machine), and can mute a track (`track-state`), unpublish one (a new offer with that
// transceiver inactive, the track left out), lose video packets for a while, count the keyframe requests
// it gets, and leave. Unlike the synthetic participant, its track ids
// and its signalling are the test's to use.

export interface WeriftPublisher {
  c: SignalClient;
  peerId: string;
  sessionId: string;
  videoTrackId: string;
  audioTrackId: string;
  mute(trackId: string, muted: boolean): void;
  /** Loses every `nth` video packet for `ms` (a lossy network between the publisher and the SFU). */
  loseVideo(nth: number, ms: number): void;
  /** Keyframe requests (PLI) the SFU has sent for the video so far. */
  keyframeRequests(): number;
  /** Publishes again without `trackId` (e.g. a stopped screen share): the SFU ends that track. */
  unpublish(trackId: string): Promise<void>;
  leave(): Promise<void>;
}

/** Encodes the clock-and-beep WebM the publishers send (320×180, 15 fps, 300 kbit/s) into `out`. */
export async function makePublisherMedia(out: string, seconds = 15): Promise<string> {
  const enc = superviseProcess({
    name: "ffmpeg",
    command: "ffmpeg",
    args: buildSyntheticFileArgs({ width: 320, height: 180, fps: 15, seconds, videoBitrateKbps: 300, out }),
  });
  const end = await enc.ended;
  if (end.code !== 0) throw new Error(`could not encode the publisher's media: ${end.stderrTail.join("\n")}`);
  return out;
}

export async function joinPublisher(o: {
  url: string;
  token: string;
  name: string;
  mediaFile: string;
  /** What its video is announced as (default a camera). */
  videoSource?: "camera" | "screen";
}): Promise<WeriftPublisher> {
  const c = await SignalClient.connect(o.url);
  const joined = await c.join(o.token, o.name);
  const pc = new RTCPeerConnection({ codecs: { video: [VP8()], audio: [OPUS()] }, iceUseIpv6: false, bundlePolicy: "max-bundle" });
  const streamId = randomUUID();
  const video = new MediaStreamTrack({ kind: "video" });
  const audio = new MediaStreamTrack({ kind: "audio" });
  const stream = new MediaStream({ id: streamId, tracks: [video, audio] });
  const tv = pc.addTransceiver(video, { direction: "sendonly", streams: [stream] });
  const ta = pc.addTransceiver(audio, { direction: "sendonly", streams: [stream] });
  const announce = (t: RTCRtpTransceiver, track: MediaStreamTrack, kind: "video" | "audio") => ({
    mid: t.mid,
    track_id: track.id,
    stream_id: streamId,
    kind,
    source: kind === "video" ? (o.videoSource ?? "camera") : "microphone",
  });
  let published = [
    { t: tv, track: video, kind: "video" as const },
    { t: ta, track: audio, kind: "audio" as const },
  ];
  const publish = async () => {
    await pc.setLocalDescription(await pc.createOffer());
    c.send({ type: "publish", sdp: pc.localDescription!.sdp, tracks: published.map((p) => announce(p.t, p.track, p.kind)) });
    const answer = await c.next("publish-answer");
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  };
  await publish();
  let lose: { nth: number; until: number } | null = null;
  let sent = 0;
  const lossy = {
    writeRtp: (rtp: RtpPacket) => {
      sent++;
      if (lose && Date.now() < lose.until && sent % lose.nth === 0) return;
      video.writeRtp(rtp);
    },
  } as unknown as MediaStreamTrack;
  let plis = 0;
  tv.sender.onRtcp.subscribe((p) => {
    if (p instanceof RtcpPayloadSpecificFeedback && p.feedback instanceof PictureLossIndication) plis++;
  });
  const source = await startRtpSource(lossy, audio, (rtp) => buildLoopedFileArgs({ file: o.mediaFile, ...rtp }));
  // werift names a track (its id) when it is added to a connection: what the publish announced.
  const [videoTrackId, audioTrackId] = [video.id ?? "", audio.id ?? ""];
  let left = false;
  return {
    c,
    peerId: joined.peer.id,
    sessionId: joined.session_id,
    videoTrackId,
    audioTrackId,
    mute: (trackId, muted) => c.send({ type: "track-state", tracks: [{ track_id: trackId, muted }] }),
    loseVideo: (nth, ms) => {
      lose = { nth, until: Date.now() + ms };
    },
    keyframeRequests: () => plis,
    async unpublish(trackId) {
      const gone = published.find((p) => p.track.id === trackId);
      if (!gone) return;
      gone.t.setDirection("inactive");
      published = published.filter((p) => p !== gone);
      await publish();
    },
    async leave() {
      if (left) return;
      left = true;
      c.send({ type: "leave" });
      c.close();
      await source.stop();
      await pc.close().catch(() => {});
    },
  };
}
