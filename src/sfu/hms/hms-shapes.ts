import { ROLE_PERMISSIONS } from "../../templates/default-roles.ts";
import { isPlainObject, type Json } from "../../util/json.ts";
import { ownValue } from "../../util/own.ts";
import type { ChatMessageOut, PeerInfo, PeerTrackInfo, PublishedTrack, SubscribedTrack, TrackSource } from "../protocol.ts";

// The 100ms client protocol's shapes (the web SDK @100mslive/hms-video-store speaks them; its mobile
// SDKs the same), built from and read into the SFU's own messages. Field names are the SDK's.

/** A track as the SDK describes it (its TrackState). */
export interface HmsTrackState {
  mute: boolean;
  type: "audio" | "video";
  /** "regular" (camera or microphone), "screen", or an SDK plugin's name. */
  source: string;
  description: string;
  track_id: string;
  stream_id: string;
}

/** A peer as the SDK expects it in peer-list, on-peer-join and on-peer-update (PeerNotification). */
export interface HmsPeer {
  peer_id: string;
  info: { name: string; data: string; user_id: string; type: "regular" };
  role: string;
  joined_at: number;
  tracks: Record<string, HmsTrackState>;
  groups: string[];
  /** Without it the SDK removes the peer. */
  realtime: true;
}

export function hmsTrack(t: PeerTrackInfo): HmsTrackState {
  return {
    mute: t.muted,
    type: t.kind,
    source: t.source === "screen" ? "screen" : "regular",
    description: "",
    track_id: t.track_id,
    stream_id: t.stream_id,
  };
}

export function hmsTracks(tracks: PeerTrackInfo[]): Record<string, HmsTrackState> {
  return Object.fromEntries(tracks.map((t) => [t.track_id, hmsTrack(t)]));
}

export function hmsPeer(p: PeerInfo): HmsPeer {
  return {
    peer_id: p.id,
    info: { name: p.name, data: p.user_data, user_id: p.user_id, type: "regular" },
    role: p.role,
    joined_at: Date.parse(p.joined_at),
    tracks: hmsTracks(p.tracks),
    groups: p.groups,
    realtime: true,
  };
}

/** The short form on-track-add/-update/-remove carry (PeerNotificationInfo). */
export function hmsPeerRef(p: PeerInfo) {
  const { peer_id, info, role, groups } = hmsPeer(p);
  return { peer_id, info, role, groups };
}

/**
 * A chat message as on-broadcast delivers it (MessageNotification). A message from the server (the
 * active-rooms API's send-message: no sender peer id) has no `peer`, as 100ms sends it: the SDK shows
 * it from no one. Its `type` (`message_type`: "emoji", an app's own) is the SDK's `info.type`.
 */
export function hmsMessage(m: ChatMessageOut & { message_type?: string }) {
  return {
    ...(m.sender.peer_id
      ? {
          peer: {
            peer_id: m.sender.peer_id,
            role: m.sender.role,
            groups: [],
            info: { name: m.sender.name, data: "", user_id: m.sender.user_id },
          },
        }
      : {}),
    ...(m.roles.length ? { roles: m.roles } : {}),
    message_id: m.id,
    private: Boolean(m.peer_id),
    timestamp: Date.parse(m.sent_at),
    info: { message: m.message, type: m.message_type ?? "chat" },
  };
}

const SOURCE: Record<string, Record<"audio" | "video", TrackSource>> = {
  regular: { audio: "microphone", video: "camera" },
  // tapedeck has no source for a screen share's audio yet: it is published and recorded as a microphone.
  screen: { audio: "microphone", video: "screen" },
};

interface SdpSection {
  kind: string;
  mid?: string;
  /** a=msid: <stream id> <track id> */
  msid?: [string, string];
  sends: boolean;
}

function sdpSections(sdp: string): SdpSection[] {
  const out: SdpSection[] = [];
  for (const line of sdp.split(/\r?\n/)) {
    const m = /^m=(\S+) (\d+)/.exec(line);
    if (m) {
      out.push({ kind: m[1], sends: m[2] !== "0" });
      continue;
    }
    const cur = out.at(-1);
    if (!cur) continue;
    if (line.startsWith("a=mid:")) cur.mid = line.slice(6).trim();
    else if (line.startsWith("a=msid:")) {
      const [stream, track] = line.slice(7).trim().split(/\s+/);
      if (stream && track) cur.msid = [stream, track];
    } else if (line === "a=recvonly" || line === "a=inactive") cur.sends = false;
  }
  return out;
}

/**
 * The SFU's publish announcement for an SDK offer and its `tracks` map: each track is found on the
 * m-line whose a=msid names its track id (or, failing that, its stream and kind, as Firefox's SDK
 * rewrites msid). Tracks the offer no longer sends (stopped) are left out, and so unpublished.
 */
export function announceTracks(sdp: string, tracks: Record<string, Partial<HmsTrackState>>): PublishedTrack[] {
  const sections = sdpSections(sdp).filter((s) => s.sends && (s.kind === "audio" || s.kind === "video") && s.mid);
  const out: PublishedTrack[] = [];
  for (const [trackId, t] of Object.entries(tracks)) {
    const kind = t.type === "audio" || t.type === "video" ? t.type : undefined;
    const section = sections.find((s) => s.msid?.[1] === trackId) ?? sections.find((s) => s.kind === kind && s.msid?.[0] === t.stream_id);
    if (!section || (section.kind !== "audio" && section.kind !== "video")) continue;
    const source = (SOURCE[t.source ?? "regular"] ?? SOURCE.regular)[section.kind];
    out.push({
      mid: section.mid!,
      track_id: trackId,
      stream_id: typeof t.stream_id === "string" && t.stream_id ? t.stream_id : (section.msid?.[0] ?? trackId),
      kind: section.kind,
      source,
      muted: Boolean(t.mute),
    });
  }
  return out;
}

/**
 * A subscribe offer as the SDK needs it: each m-line's a=msid names the publisher's stream and track
 * ids (the SDK joins a remote track to its peer by that track id; werift writes its own sender's id).
 */
export function withPublisherMsids(sdp: string, tracks: SubscribedTrack[]): string {
  const byMid = new Map(tracks.map((t) => [t.mid, t]));
  const lines = sdp.split("\r\n");
  let current: SubscribedTrack | undefined;
  return lines
    .map((line) => {
      if (line.startsWith("m=")) current = undefined;
      else if (line.startsWith("a=mid:")) current = byMid.get(line.slice(6).trim());
      if (!current) return line;
      const msid = `${current.stream_id} ${current.track_id}`;
      if (line.startsWith("a=msid:")) return `a=msid:${msid}`;
      const ssrc = /^a=ssrc:(\d+) msid:/.exec(line);
      return ssrc ? `a=ssrc:${ssrc[1]} msid:${msid}` : line;
    })
    .join("\r\n");
}

const obj = (v: unknown): Json => (isPlainObject(v) ? v : {});

/** A template role as the SDK's HMSRole: every object it reads present, defaults where the template is silent. */
export function hmsRole(name: string, role: Json, allRoles: string[]) {
  const pp = obj(role.publishParams);
  const sp = obj(role.subscribeParams);
  const granted = obj(role.permissions);
  return {
    name,
    priority: typeof role.priority === "number" ? role.priority : 1,
    publishParams: {
      allowed: Array.isArray(pp.allowed) ? pp.allowed : ["audio", "video", "screen"],
      audio: { bitRate: 32, codec: "opus", ...obj(pp.audio) },
      video: { bitRate: 700, codec: "vp8", frameRate: 30, width: 1280, height: 720, ...obj(pp.video) },
      screen: { bitRate: 1500, codec: "vp8", frameRate: 10, width: 1920, height: 1080, ...obj(pp.screen) },
      // One encoding per track: tapedeck forwards tracks whole.
      simulcast: { video: { layers: [] }, screen: { layers: [] } },
    },
    subscribeParams: {
      subscribeToRoles: Array.isArray(sp.subscribeToRoles) ? sp.subscribeToRoles : allRoles,
      maxSubsBitRate: typeof sp.maxSubsBitRate === "number" ? sp.maxSubsBitRate : 3200,
    },
    permissions: Object.fromEntries(ROLE_PERMISSIONS.map((p) => [p, granted[p] === true])),
  };
}

/** on-policy-change: the local peer's role (`name`) and every role of the template. */
export function hmsPolicy(role: string, roles: Record<string, Json>, templateId: string) {
  const names = Object.keys(roles);
  return {
    name: role,
    known_roles: Object.fromEntries(names.map((n) => [n, hmsRole(n, obj(ownValue(roles, n)), names)])),
    plugins: {},
    template_id: templateId,
  };
}
