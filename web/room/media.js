// Local media and WebRTC helpers shared by the publisher, the subscriber and the preview.

export const VIDEO_CONSTRAINTS = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
const ICE_GATHERING_DEADLINE_MS = 5_000;

/**
 * Camera + microphone, each optional. Asks for what is allowed; if both together are refused, tries
 * each alone, so a peer without a camera still publishes its voice. Returns the stream (maybe with
 * no tracks) and the problems met, as text for the user.
 * @param {{ audio: boolean, video: boolean, cameraId?: string, micId?: string }} opts
 */
export async function getLocalMedia({ audio, video, cameraId, micId }) {
  const problems = [];
  const stream = new MediaStream();
  if (!navigator.mediaDevices?.getUserMedia) {
    if (audio || video) problems.push("this browser cannot capture media here (a secure origin, https or localhost, is needed)");
    return { stream, problems };
  }
  const videoC = video ? { ...VIDEO_CONSTRAINTS, ...(cameraId ? { deviceId: { exact: cameraId } } : {}) } : false;
  const audioC = audio ? (micId ? { deviceId: { exact: micId } } : true) : false;
  const ask = async (constraints) => (await navigator.mediaDevices.getUserMedia(constraints)).getTracks();
  if (!audioC && !videoC) return { stream, problems };
  try {
    for (const t of await ask({ audio: audioC, video: videoC })) stream.addTrack(t);
    return { stream, problems };
  } catch (err) {
    if (!(audioC && videoC)) {
      problems.push(describeMediaError(err, audioC ? "microphone" : "camera"));
      return { stream, problems };
    }
  }
  for (const [what, constraints] of [
    ["microphone", { audio: audioC }],
    ["camera", { video: videoC }],
  ]) {
    try {
      for (const t of await ask(constraints)) stream.addTrack(t);
    } catch (err) {
      problems.push(describeMediaError(err, what));
    }
  }
  return { stream, problems };
}

export function describeMediaError(err, what) {
  const name = err && typeof err === "object" && "name" in err ? err.name : "";
  if (name === "NotAllowedError") return `${what}: permission refused`;
  if (name === "NotFoundError" || name === "OverconstrainedError") return `${what}: no such device`;
  if (name === "NotReadableError") return `${what}: the device is busy or cannot be read`;
  return `${what}: ${err instanceof Error ? err.message : String(err)}`;
}

/** Cameras and microphones; labels are empty until the page has been granted access once. */
export async function listDevices() {
  if (!navigator.mediaDevices?.enumerateDevices) return { cameras: [], mics: [] };
  const all = await navigator.mediaDevices.enumerateDevices();
  return {
    cameras: all.filter((d) => d.kind === "videoinput"),
    mics: all.filter((d) => d.kind === "audioinput"),
  };
}

export function stopStream(stream) {
  for (const t of stream?.getTracks() ?? []) t.stop();
}

/**
 * Resolves once the connection has gathered all its ICE candidates (no trickle: the SDP we send must
 * carry them all). After a deadline it resolves anyway, so the candidates gathered so far still go.
 */
export function waitForIceGathering(pc, deadlineMs = ICE_GATHERING_DEADLINE_MS) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", onState);
      pc.removeEventListener("icecandidate", onCandidate);
      resolve();
    };
    const onState = () => pc.iceGatheringState === "complete" && finish();
    const onCandidate = (ev) => ev.candidate === null && finish();
    const timer = setTimeout(() => {
      console.warn("ICE gathering still not complete after", deadlineMs, "ms; sending the candidates found so far");
      finish();
    }, deadlineMs);
    pc.addEventListener("icegatheringstatechange", onState);
    pc.addEventListener("icecandidate", onCandidate);
  });
}

/**
 * Puts the wanted video codec first on a transceiver (`vp8` by default, `h264` on request), keeping the
 * others after it as fallbacks. H.264 prefers constrained baseline with packetization-mode=1, which
 * every decoder handles.
 */
export function preferVideoCodec(transceiver, codec = "vp8") {
  const caps = globalThis.RTCRtpSender?.getCapabilities?.("video");
  if (!caps || typeof transceiver.setCodecPreferences !== "function") return false;
  const mime = codec === "h264" ? "video/h264" : "video/vp8";
  const score = (c) => {
    if (c.mimeType.toLowerCase() !== mime) return 0;
    if (mime !== "video/h264") return 3;
    const fmtp = c.sdpFmtpLine ?? "";
    return (/profile-level-id=42e01f/i.test(fmtp) ? 2 : 0) + (/packetization-mode=1/.test(fmtp) ? 1 : 0) + 1;
  };
  const wanted = caps.codecs.filter((c) => score(c) > 0);
  if (wanted.length === 0) {
    console.warn(`codec ${codec} is not supported by this browser; using its default`);
    return false;
  }
  wanted.sort((a, b) => score(b) - score(a));
  const rest = caps.codecs.filter((c) => score(c) === 0);
  try {
    transceiver.setCodecPreferences([...wanted, ...rest]);
    return true;
  } catch (err) {
    console.warn("setCodecPreferences failed", err);
    return false;
  }
}

/** Reads the JWT payload (no verification: the SFU verifies) to learn the token's room, or null. */
export function tokenClaims(token) {
  try {
    const part = token.split(".")[1];
    const json = atob(
      part
        .replace(/-/g, "+")
        .replace(/_/g, "/")
        .padEnd(Math.ceil(part.length / 4) * 4, "="),
    );
    const claims = JSON.parse(json);
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}
