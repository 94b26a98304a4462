import type { RoleInput } from "./template.schema.ts";

/** Every permission a 100ms role has (`permissions` of a template role). */
export const ROLE_PERMISSIONS = [
  "endRoom",
  "removeOthers",
  "mute",
  "unmute",
  "changeRole",
  "hlsStreaming",
  "rtmpStreaming",
  "browserRecording",
  "pollRead",
  "pollWrite",
] as const;

const permissions = (granted: readonly string[]): Record<string, boolean> =>
  Object.fromEntries(ROLE_PERMISSIONS.map((p) => [p, granted.includes(p)]));

/** Roles of a template created without any: a `host` who may do everything and a `guest` who publishes. */
export function defaultRoles(): Record<string, RoleInput> {
  return {
    host: {
      name: "host",
      publishParams: { allowed: ["audio", "video", "screen"] },
      subscribeParams: { subscribeToRoles: ["host", "guest"] },
      permissions: permissions(ROLE_PERMISSIONS),
      priority: 1,
    },
    guest: {
      name: "guest",
      publishParams: { allowed: ["audio", "video", "screen"] },
      subscribeParams: { subscribeToRoles: ["host", "guest"] },
      permissions: permissions(["pollRead"]),
      priority: 2,
    },
  };
}
