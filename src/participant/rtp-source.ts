import dgram from "node:dgram";
import { type MediaStreamTrack, RtpPacket } from "werift";
import type { RtpTargets } from "../media/ffmpeg-args.ts";
import { superviseProcess, type SupervisedProcess } from "../process/supervisor.ts";

// Media for a werift publisher: an ffmpeg (under the process supervisor) sends RTP to two local UDP
// sockets, whose packets are written into the video and audio tracks. Used by the synthetic participant
// and the tests' steerable publisher; the caller chooses what ffmpeg sends (its arguments, given where
// to send).

export interface RtpSource {
  ffmpeg: SupervisedProcess;
  /** Stops ffmpeg (SIGTERM, SIGKILL after 2 s) and closes the sockets; settles once ffmpeg has ended. */
  stop(): Promise<unknown>;
}

async function bindUdp(): Promise<dgram.Socket> {
  const sock = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => sock.bind(0, "127.0.0.1", resolve));
  return sock;
}

/** Starts ffmpeg with `args(targets)`, its RTP going into `video` and `audio`. */
export async function startRtpSource(
  video: MediaStreamTrack,
  audio: MediaStreamTrack,
  args: (targets: RtpTargets) => string[],
): Promise<RtpSource> {
  const [vSock, aSock] = [await bindUdp(), await bindUdp()];
  vSock.on("message", (buf) => video.writeRtp(RtpPacket.deSerialize(buf)));
  aSock.on("message", (buf) => audio.writeRtp(RtpPacket.deSerialize(buf)));
  const targets: RtpTargets = {
    videoPort: vSock.address().port,
    audioPort: aSock.address().port,
    videoSsrc: 0x1111,
    audioSsrc: 0x2222,
    videoPayloadType: 96,
    audioPayloadType: 111,
  };
  const ffmpeg = superviseProcess({ name: "ffmpeg", command: "ffmpeg", args: args(targets), killGraceMs: 2000 });
  return {
    ffmpeg,
    stop() {
      const stopped = ffmpeg.stop();
      vSock.close();
      aSock.close();
      return stopped;
    },
  };
}
