import { type RTCDataChannel, type RTCPeerConnection, RtpHeader, RtpPacket } from "werift";

// Small pieces of what the SFU does on a subscriber's connection: the copy of each forwarded packet,
// and the control data channel the 100ms SDK expects there.

/**
 * The packet one subscriber's sender is given: a header of its own, without the publisher's extensions.
 * werift's RTCRtpSender rewrites the packet it sends in place (SSRC, payload type, header extensions with
 * its own MID) and keeps that object for NACK retransmissions; extensions already on the packet are
 * merged over its own by id. With one packet object shared by every subscriber, the second and later
 * ones got the first one's MID, and a browser drops packets whose MID is none of its m-lines: e.g. a
 * screen share on mid 4 for a watch-only peer that joined first (it receives both cameras and both
 * microphones) never played for the other publisher, where it is on mid 2. The publisher's extensions
 * carry the publish connection's ids (Chromium's MID id there is werift's abs-send-time id here), so
 * they are dropped; the sender writes this connection's MID and abs-send-time. The payload is shared.
 */
export function forwardedCopy(rtp: RtpPacket): RtpPacket {
  const { padding, paddingSize, marker, payloadType, sequenceNumber, timestamp, ssrc, csrc } = rtp.header;
  return new RtpPacket(
    new RtpHeader({ padding, paddingSize, marker, payloadType, sequenceNumber, timestamp, ssrc, csrc: [...csrc] }),
    rtp.payload,
  );
}

/**
 * The control channel: every JSON-RPC request on it (the 100ms SDK's layer and audio preferences) is
 * acknowledged; tapedeck forwards every track whole, so there is nothing to change.
 */
export function openControlChannel(pc: RTCPeerConnection, label: string): RTCDataChannel {
  const channel = pc.createDataChannel(label);
  channel.onMessage.subscribe((data) => {
    try {
      const req = JSON.parse(String(data)) as { id?: unknown };
      if (typeof req.id === "string" || typeof req.id === "number") channel.send(JSON.stringify({ id: req.id, result: {} }));
    } catch {
      /* not JSON: nothing to answer */
    }
  });
  return channel;
}
