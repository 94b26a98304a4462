import { RTCRtpCodecParameters, useAbsSendTime, useNACK, usePLI, useREMB, useSdesMid, type RTCPeerConnectionConfig } from "werift";

// What the SFU negotiates: VP8 and H.264 video, Opus audio. Congestion feedback is REMB (goog-remb),
// sent by the SFU itself (remb.ts); transport-cc is not offered, so Chromium's bandwidth estimate follows
// the REMB values and loss, instead of sitting at its ~300 kbps start without feedback.

const videoFeedback = () => [useNACK(), usePLI(), useREMB()];

export const VP8 = () => new RTCRtpCodecParameters({ mimeType: "video/VP8", clockRate: 90000, rtcpFeedback: videoFeedback() });

export const H264 = () =>
  new RTCRtpCodecParameters({
    mimeType: "video/H264",
    clockRate: 90000,
    rtcpFeedback: videoFeedback(),
    parameters: "profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1",
  });

export const OPUS = () =>
  new RTCRtpCodecParameters({ mimeType: "audio/opus", clockRate: 48000, channels: 2, parameters: "minptime=10;useinbandfec=1" });

export function sfuPeerConfig(): RTCPeerConnectionConfig {
  return {
    codecs: { audio: [OPUS()], video: [VP8(), H264()] },
    headerExtensions: { audio: [useSdesMid(), useAbsSendTime()], video: [useSdesMid(), useAbsSendTime()] },
    iceUseIpv6: false,
    // One ICE/DTLS transport per connection: with werift's default (max-compat) every transceiver of an
    // offer gets a transport of its own, and the unused ones are never closed (leaked UDP sockets).
    bundlePolicy: "max-bundle",
  };
}
