import { createHmac, timingSafeEqual } from "node:crypto";
import type { AppIdentity } from "../config/identity.ts";

// Calls between the nodes of a cluster (a relayed signalling socket, a call into a room on another SFU
// node, a live playlist fetched from the node that encodes it) carry this header. Its value is derived
// from the app secret that every node shares (the same identity.json), so no extra secret has to be
// distributed; it never leaves the cluster (tapedeck never sends it to a client or a webhook).

export const CLUSTER_HEADER = "x-tapedeck-cluster";

export function clusterKey(identity: Pick<AppIdentity, "appSecret">): string {
  return createHmac("sha256", identity.appSecret).update("tapedeck cluster call").digest("base64url");
}

/** Whether a request's header value is this cluster's key (constant-time). */
export function isClusterCall(identity: Pick<AppIdentity, "appSecret">, value: string | string[] | undefined): boolean {
  if (typeof value !== "string") return false;
  const want = Buffer.from(clusterKey(identity));
  const got = Buffer.from(value);
  return got.length === want.length && timingSafeEqual(got, want);
}
