import { z } from "zod";
import type { V2Routes } from "../api/server.ts";
import { parseParams, parseQuery } from "../api/validation.ts";
import { listNodes, nodeOrThrow, setDraining, viewNode, workLeft } from "./nodes.ts";

// tapedeck's addition to the API: the cluster's nodes (GET /v2/nodes: state, roles, load, heartbeat,
// and who holds the once-per-cluster leases), and drain / resume of one node. Outside a cluster the list
// is empty and `cluster: false`.

const noQuery = z.object({});
const idParams = z.object({ id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "node_id is not a node id") });

export const nodeRoutes: V2Routes = (v2, ctx) => {
  const deadAfter = ctx.config.cluster.deadAfterMs;
  v2.get("/nodes", async (req) => {
    // No filters; a query is still checked (control characters, as on every list).
    parseQuery(noQuery, req.query);
    return {
      cluster: ctx.config.cluster.enabled,
      this_node: ctx.cluster?.id ?? null,
      ...(await listNodes(ctx.db, deadAfter)),
    };
  });
  v2.get("/nodes/:id", async (req) => {
    const { id } = parseParams(idParams, req.params);
    return { ...viewNode(await nodeOrThrow(ctx.db, id), deadAfter), work_left: await workLeft(ctx.db, id) };
  });
  for (const [action, draining] of [
    ["drain", true],
    ["resume", false],
  ] as const) {
    v2.post(`/nodes/:id/${action}`, async (req) => {
      const { id } = parseParams(idParams, req.params);
      const row = await setDraining(ctx.db, id, draining);
      ctx.log.info({ node_id: id, state: row.state }, `node ${action} asked through the API`);
      return { ...viewNode(row, deadAfter), work_left: await workLeft(ctx.db, id) };
    });
  }
};
