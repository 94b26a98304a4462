import { parseArgs } from "node:util";
import type { Config } from "../config/config.ts";
import { openDatabase } from "../db/database.ts";
import { AppError } from "../errors.ts";
import { resolveNodeId } from "./cluster.ts";
import { listNodes, setDraining, workLeft, type NodeView } from "./nodes.ts";

// `tapedeck node list | drain [id] [--wait] | resume [id]`, on the cluster's database (DATABASE_URL).
// Without an id, the node of this data directory (TAPEDECK_NODE_ID, or <data dir>/node-id).

export const NODE_USAGE = `  node list                  the cluster's nodes: state, roles, load, heartbeat, and who holds the cluster leases
  node drain [ID] [--wait]   no new rooms or recordings on the node (this data directory's by default); --wait until its work is done
  node resume [ID]           the node takes new work again`;

const WAIT_POLL_MS = 2_000;

export async function runNodeCli(config: Config, sub: string | undefined, args: string[], out = console.log): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { wait: { type: "boolean", default: false } },
    allowPositionals: true,
    strict: true,
  });
  if (!/^postgres(ql)?:\/\//.test(config.databaseUrl)) {
    console.error("tapedeck node: DATABASE_URL must name the cluster's PostgreSQL (postgres://…)");
    return 2;
  }
  const { db, close } = await openDatabase(config.databaseUrl);
  try {
    if (sub === "list") {
      const { nodes, leases } = await listNodes(db, config.cluster.deadAfterMs);
      if (!nodes.length) out("no node has registered yet (start the nodes with TAPEDECK_CLUSTER=on)");
      for (const n of nodes) out(describe(n));
      for (const l of leases) out(`lease ${l.name}: ${l.node_id} until ${l.expires_at}`);
      return 0;
    }
    if (sub === "drain" || sub === "resume") {
      const id = positionals[0] ?? resolveNodeId(config);
      const row = await setDraining(db, id, sub === "drain");
      out(`${id} is ${row.state}${sub === "drain" ? ": it takes no new rooms or recordings; running ones finish" : ""}`);
      if (sub !== "drain" || !values.wait) return 0;
      for (;;) {
        const left = await workLeft(db, id);
        if (left.peers + left.recordings + left.jobs === 0) {
          out(`${id} is drained: no peers, recordings or jobs left. It can be stopped.`);
          return 0;
        }
        out(`${id} draining: ${left.peers} peer(s) in its rooms, ${left.recordings} recording(s) running, ${left.jobs} job(s) left`);
        await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
      }
    }
    console.error(`unknown node command: ${sub ?? "(none)"}\n${NODE_USAGE}`);
    return 2;
  } catch (err) {
    if (err instanceof AppError) {
      console.error(`tapedeck node: ${err.message}${err.details.length ? ` (${err.details.join("; ")})` : ""}`);
      return 1;
    }
    throw err;
  } finally {
    await close();
  }
}

function describe(n: NodeView): string {
  const l = n.load;
  return [
    n.id.padEnd(24),
    n.state.padEnd(12),
    n.roles.join(",").padEnd(16),
    `cpu ${Math.round(l.cpu * 100)}% of ${l.cores}`.padEnd(14),
    `${l.rooms} rooms, ${l.peers} peers, ${l.recordings} recordings`.padEnd(36),
    `heartbeat ${n.heartbeat_age_s}s ago`.padEnd(22),
    n.url,
  ].join(" ");
}
