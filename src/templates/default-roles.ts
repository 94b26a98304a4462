import type { RoleInput } from "./template.schema.ts";

const ALL_PERMISSIONS = [
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
];

const permissions = (granted: string[]): Record<string, boolean> =>
  Object.fromEntries(ALL_PERMISSIONS.map((p) => [p, granted.includes(p)]));

/** Roles of a template created without any: a `host` who may do everything and a `guest` who publishes. */
export function defaultRoles(): Record<string, RoleInput> {
  return {
    host: {
      name: "host",
      publishParams: { allowed: ["audio", "video", "screen"] },
      subscribeParams: { subscribeToRoles: ["host", "guest"] },
      permissions: permissions(ALL_PERMISSIONS),
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
