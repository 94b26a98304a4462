import { AppError } from "../errors.ts";
import type { PublishedTrack } from "./protocol.ts";

// A publish is checked against the offer itself, not only against what the peer says about it: each
// announced track must name a sending m-line of its kind, every sending m-line must be announced, and
// each announced source must be one the role may publish. A video m-line announced as audio (to slip
// past a role allowed only audio) is refused here, before werift sees the offer, so nothing of it is
// negotiated, forwarded or recorded. Camera and screen are both video on the wire: the source is the
// announcement's, checked against the role (`video` for a camera, `screen` for a screen share).

const SOURCE_PERMISSION = { camera: "video", microphone: "audio", screen: "screen" } as const;
const SOURCE_KIND = { camera: "video", microphone: "audio", screen: "video" } as const;
const DIRECTIONS = new Set(["sendrecv", "sendonly", "recvonly", "inactive"]);

export interface MediaSection {
  /** The m-line's media type: audio, video, application… */
  kind: string;
  mid: string | undefined;
  /** Carries media from the offerer: audio or video, not closed (port 0 without bundle-only), sendrecv or sendonly. */
  sends: boolean;
}

/** The offer's m-sections, and whether it has ICE credentials and a DTLS fingerprint (session or media level). */
export function parseOffer(sdp: string): { sections: MediaSection[]; secured: boolean } {
  const lines = sdp.split(/\r?\n/);
  let sessionDirection = "sendrecv";
  const session = { ufrag: false, pwd: false, fingerprint: false };
  const raw: Array<{
    kind: string;
    port: number;
    mid?: string;
    direction?: string;
    bundleOnly: boolean;
    ufrag: boolean;
    pwd: boolean;
    fingerprint: boolean;
  }> = [];
  for (const line of lines) {
    const m = /^m=(\S+) (\d+)(?:\/\d+)? /.exec(line);
    if (m) {
      raw.push({ kind: m[1], port: Number(m[2]), bundleOnly: false, ufrag: false, pwd: false, fingerprint: false });
      continue;
    }
    if (!line.startsWith("a=")) continue;
    const [name, value] = splitAttribute(line.slice(2));
    const cur = raw.at(-1);
    const target = cur ?? session;
    if (name === "ice-ufrag") target.ufrag = true;
    else if (name === "ice-pwd") target.pwd = true;
    else if (name === "fingerprint") target.fingerprint = true;
    else if (DIRECTIONS.has(name)) {
      if (cur) cur.direction = name;
      else sessionDirection = name;
    } else if (cur && name === "mid" && value) cur.mid = value;
    else if (cur && name === "bundle-only") cur.bundleOnly = true;
  }
  const sections = raw.map((s) => {
    const direction = s.direction ?? sessionDirection;
    const open = s.port !== 0 || s.bundleOnly;
    return {
      kind: s.kind,
      mid: s.mid,
      sends: (s.kind === "audio" || s.kind === "video") && open && (direction === "sendrecv" || direction === "sendonly"),
    };
  });
  // Credentials on every sending m-line; an offer that sends nothing yet (the 100ms SDK's first one has
  // only its data channel) on every m-line.
  const sending = raw.filter((_, i) => sections[i].sends);
  const pool = sending.length ? sending : raw;
  const has = (k: "ufrag" | "pwd" | "fingerprint") => session[k] || (pool.length > 0 && pool.every((s) => s[k]));
  return { sections, secured: has("ufrag") && has("pwd") && has("fingerprint") };
}

function splitAttribute(attr: string): [string, string] {
  const i = attr.indexOf(":");
  return i < 0 ? [attr, ""] : [attr.slice(0, i), attr.slice(i + 1).trim()];
}

const invalid = (message: string) => new AppError("invalid_body", message);

/** Throws the AppError for the first thing wrong with a publish (400 for a bad offer or announcement, 403 for a forbidden source). */
export function checkPublish(sdp: string, tracks: PublishedTrack[], role: string, allowed: ReadonlyArray<string>): void {
  if (!/^v=0\r?\n/.test(sdp) || !/^m=/m.test(sdp)) throw invalid("publish sdp is not an SDP offer with media sections");
  const { sections, secured } = parseOffer(sdp);
  const unnamed = sections.find((s) => s.sends && !s.mid);
  if (unnamed) throw invalid(`publish sdp has a sending ${unnamed.kind} m-line without a=mid`);
  const byMid = new Map(sections.filter((s) => s.mid).map((s) => [s.mid!, s]));

  const mids = new Set<string>();
  const ids = new Set<string>();
  for (const t of tracks) {
    if (mids.has(t.mid)) throw invalid(`publish tracks: mid ${t.mid} is announced twice; announce each m-line once`);
    if (ids.has(t.track_id)) throw invalid(`publish tracks: track id ${t.track_id} is announced twice`);
    mids.add(t.mid);
    ids.add(t.track_id);
  }
  const unknown = tracks.filter((t) => !byMid.has(t.mid));
  if (unknown.length) throw invalid(`publish tracks name mids the offer does not have: ${unknown.map((t) => t.mid).join(", ")}`);
  for (const t of tracks) {
    const section = byMid.get(t.mid)!;
    if (section.kind !== t.kind) throw invalid(`track ${t.track_id}: announced as ${t.kind} but m-line ${t.mid} is ${section.kind}`);
    if (!section.sends)
      throw invalid(`track ${t.track_id}: m-line ${t.mid} sends nothing (closed, recvonly or inactive); announce only the tracks you send`);
    if (SOURCE_KIND[t.source] !== t.kind) throw invalid(`track ${t.track_id}: a ${t.source} track must be ${SOURCE_KIND[t.source]}`);
    if (!allowed.includes(SOURCE_PERMISSION[t.source])) {
      throw new AppError("forbidden", `role ${role} may not publish ${SOURCE_PERMISSION[t.source]}`, {
        details: [`allowed: ${allowed.join(", ") || "nothing"}`],
      });
    }
  }
  const unannounced = sections.find((s) => s.sends && !mids.has(s.mid!));
  if (unannounced)
    throw invalid(`m-line ${unannounced.mid} (${unannounced.kind}) sends media but no track announces it; announce every track you send`);
  if (!secured)
    throw invalid(
      "publish sdp has no ICE credentials or DTLS fingerprint (a=ice-ufrag, a=ice-pwd, a=fingerprint): send the offer your RTCPeerConnection made",
    );
}

/**
 * werift answers an `inactive` m-line with port 0, which means *rejected*: the browser then stops that
 * transceiver for good, and its next offers fail (a rejected MID left in the BUNDLE group) or cannot
 * use it again. An m-line the offer kept open (port not 0) stays open in the answer (port 9, inactive),
 * so a client that pauses a source (a screen share stopped) can send on it again later.
 */
export function keepOfferedMediaOpen(answer: string, offer: string): string {
  const offeredPorts = [...offer.matchAll(/^m=\S+ (\d+)/gm)].map((m) => Number(m[1]));
  let index = 0;
  return answer.replace(/^m=(\S+) (\d+)/gm, (line, kind: string, port: string) => {
    const offered = offeredPorts[index++];
    return port === "0" && offered !== undefined && offered !== 0 ? `m=${kind} 9` : line;
  });
}
