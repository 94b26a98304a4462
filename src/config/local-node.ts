import { AsyncLocalStorage } from "node:async_hooks";

// Which node a job enqueued by this process is pinned to. In a cluster, every job tapedeck queues reads
// files that only the enqueuing node has (the SFU's track spool, a capture's spool), so it is pinned to
// that node; when the node is dead, another worker takes it over and works from what reached the bucket.
// Outside a cluster nothing is pinned (null). The dead-node reaper closes a dead node's sessions on that
// node's behalf (`asNode`), so the jobs those closes queue are pinned to the dead node too, and can be
// taken over at once, rather than to the reaper, which does not have the files either.

let processNode: string | null = null;
const acting = new AsyncLocalStorage<string>();

/** Set once at boot (main process and SFU shards) in cluster mode. */
export function setLocalNode(id: string | null): void {
  processNode = id;
}

/** The node this process runs as (null outside a cluster). */
export function localNode(): string | null {
  return processNode;
}

/** The node a job queued now is pinned to: the one being acted for, else this process's node. */
export function pinNode(): string | null {
  return acting.getStore() ?? processNode;
}

/** Runs `fn` on behalf of another (dead) node: the jobs it queues are pinned to that node. */
export function asNode<T>(nodeId: string, fn: () => Promise<T>): Promise<T> {
  return acting.run(nodeId, fn);
}
