import type { ClientMessage } from "../protocol.ts";

// The 100ms SDK's requests that map one to one onto an SFU message (protocol.ts), with no state of the
// socket's own: the adapter (hms-socket.ts) sends what this returns. Requests that need its state
// (join, offer, the session store's observers, recordings, ping) stay there.

/** A request refused before it reaches the SFU: the JSON-RPC error the SDK gets. */
export interface Refusal {
  code: number;
  message: string;
}

const refused = (code: number, message: string): Refusal => ({ code, message });

/**
 * The SFU message for SDK request `method`; `ref` makes the ref its answer will carry back (absent for a
 * notification, which needs no answer). null: nothing to send; undefined: not a method tapedeck knows.
 */
export function sfuRequest(
  method: string,
  p: Record<string, unknown>,
  ref: (() => string) | undefined,
): ClientMessage | Refusal | null | undefined {
  switch (method) {
    case "answer": {
      const sdp = (p.desc as { sdp?: unknown } | undefined)?.sdp;
      return typeof sdp === "string" ? { type: "subscribe-answer", sdp } : null;
    }
    case "trickle": {
      const candidate = p.candidate as { candidate?: unknown } | undefined;
      if (!candidate || typeof candidate.candidate !== "string" || !candidate.candidate) return null;
      const { sdpMid, sdpMLineIndex, usernameFragment } = candidate as Record<string, never>;
      return {
        type: "trickle",
        target: p.target === 1 ? "subscribe" : "publish",
        candidate: { candidate: candidate.candidate, sdpMid, sdpMLineIndex, usernameFragment },
      };
    }
    case "track-update": {
      const tracks = Object.entries((p.tracks ?? {}) as Record<string, { mute?: unknown }>).map(([track_id, t]) => ({
        track_id,
        muted: t.mute === true,
      }));
      return tracks.length ? { type: "track-state", tracks: tracks.slice(0, 6) } : null;
    }
    case "broadcast": {
      if (!ref) return null;
      const info = (p.info ?? {}) as { message?: unknown };
      const message = typeof info.message === "string" ? info.message : JSON.stringify(info.message ?? "");
      return {
        type: "chat",
        message,
        ...(Array.isArray(p.roles) && p.roles.length ? { roles: p.roles as string[] } : {}),
        ...(typeof p.peer_id === "string" ? { peer_id: p.peer_id } : {}),
        ref: ref(),
      };
    }
    case "peer-update": {
      if (!ref) return null;
      return {
        type: "update-peer",
        ...(typeof p.name === "string" ? { name: p.name } : {}),
        ...(typeof p.data === "string" ? { user_data: p.data } : {}),
        ref: ref(),
      };
    }
    case "peer-leave-request": {
      if (!ref) return null;
      if (typeof p.requested_for !== "string") return refused(400, "peer-leave-request needs requested_for");
      return {
        type: "remove-peer",
        peer_id: p.requested_for,
        ...(typeof p.reason === "string" ? { reason: p.reason } : {}),
        ref: ref(),
      };
    }
    case "end-room": {
      if (!ref) return null;
      return {
        type: "end-room",
        ...(typeof p.reason === "string" ? { reason: p.reason } : {}),
        lock: p.lock === true,
        ref: ref(),
      };
    }
    case "role-change-request": {
      if (!ref) return null;
      if (typeof p.role !== "string") return refused(400, "role-change-request needs role");
      if (Array.isArray(p.roles)) return { type: "change-role", roles: p.roles as string[], role: p.role, force: true, ref: ref() };
      if (typeof p.requested_for !== "string") return refused(400, "role-change-request needs requested_for or roles");
      return { type: "change-role", peer_id: p.requested_for, role: p.role, force: p.force === true, ref: ref() };
    }
    case "role-change": {
      if (!ref) return null;
      if (typeof p.token !== "string") return refused(400, "role-change needs the request's token");
      return { type: "accept-role", token: p.token, ref: ref() };
    }
    case "track-update-request": {
      if (!ref) return null;
      if (typeof p.requested_for !== "string" || typeof p.track_id !== "string")
        return refused(400, "track-update-request needs requested_for and track_id");
      return {
        type: "mute-request",
        peer_id: p.requested_for,
        track_id: p.track_id,
        mute: p.mute === true,
        ref: ref(),
      };
    }
    case "change-track-mute-state-request": {
      if (!ref) return null;
      const kind = p.type === "audio" || p.type === "video" ? p.type : undefined;
      return {
        type: "mute-request",
        ...(Array.isArray(p.roles) && p.roles.length ? { roles: p.roles as string[] } : {}),
        ...(typeof p.requested_for === "string" ? { peer_id: p.requested_for } : {}),
        ...(kind ? { kind } : {}),
        ...sourceOf(p.source, kind),
        mute: p.value === true,
        ref: ref(),
      };
    }
    case "group-join":
    case "group-leave":
    case "group-add":
    case "group-remove": {
      if (!ref) return null;
      if (typeof p.name !== "string") return refused(400, `${method} needs name`);
      return {
        type: "group",
        name: p.name,
        join: method === "group-join" || method === "group-add",
        ...(typeof p.peer_id === "string" ? { peer_id: p.peer_id } : {}),
        ref: ref(),
      };
    }
    case "set-metadata": {
      if (!ref) return null;
      return {
        type: "set-session-data",
        key: typeof p.key === "string" ? p.key : "default",
        data: (p.data ?? null) as never,
        ...(typeof p.if_change_version === "number" ? { if_version: p.if_change_version } : {}),
        ref: ref(),
      };
    }
    case "get-metadata": {
      if (!ref) return null;
      return { type: "get-session-data", key: typeof p.key === "string" ? p.key : "default", ref: ref() };
    }
    case "leave":
      return { type: "leave" };
    default:
      return undefined;
  }
}

/** The SFU's track source for the SDK's `source` ("regular" is the camera or microphone, by `type`). */
function sourceOf(source: unknown, kind: "audio" | "video" | undefined): { source?: "camera" | "microphone" | "screen" } {
  if (source === "screen") return { source: "screen" };
  if (source === "regular" && kind) return { source: kind === "audio" ? "microphone" : "camera" };
  return {};
}
