import type { Db } from "../db/database.ts";
import type { NodeRow } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { nowIso } from "../ids.ts";
import { isAlive, nodeLoad, nodeRoles } from "./node-registry.ts";

// Which SFU node a room's session lives on (`room_placements`). A room is placed when a peer joins it
// and it has no live placement: on the least loaded SFU node that is alive, active (not draining) and
// below TAPEDECK_NODE_CPU_LIMIT of its machine's CPU. The placement holds while its node is alive; on a draining
// node only while the room's session is open (then the next session goes elsewhere). A dead node's
// placements are dropped by the reaper; until then, a join that cannot reach the placed node asks for a
// placement that excludes it.
//
// Two nodes placing one room at once both write with "insert if absent" (or "move if still on the node
// I saw"), then read the row back: whichever write landed first wins, and both use it.

export class Placement {
  constructor(
    private readonly db: Db,
    private readonly deadAfterMs: number,
    /** Share of its machine's CPU above which a node gets no new rooms. */
    private readonly cpuLimit: number,
  ) {}

  /** The live node a room is placed on, or null (never placed, or its node is dead). */
  async locate(roomId: string): Promise<NodeRow | null> {
    const node = await this.placedOn(roomId);
    return node && isAlive(node, this.deadAfterMs) ? node : null;
  }

  /** The room's node, placing it now when it has no usable placement. 503 when no SFU node can take it. */
  async place(roomId: string, exclude: readonly string[] = []): Promise<NodeRow> {
    const current = await this.placedOn(roomId);
    if (current && isAlive(current, this.deadAfterMs) && !exclude.includes(current.id)) {
      if (current.state === "active" || (await this.sessionOpen(roomId))) return current;
    }
    const nodes = await this.db.selectFrom("nodes").selectAll().where("state", "=", "active").execute();
    const candidates = nodes
      .filter((n) => isAlive(n, this.deadAfterMs) && nodeRoles(n).includes("sfu") && !exclude.includes(n.id))
      .map((n) => ({ n, load: nodeLoad(n) }))
      .filter((c) => c.load.cpu < this.cpuLimit)
      .sort((a, b) => a.load.peers - b.load.peers || a.load.cpu - b.load.cpu || a.n.id.localeCompare(b.n.id));
    const chosen = candidates[0]?.n;
    if (!chosen) {
      throw new AppError("unavailable", "no SFU node can take this room now: every SFU node is dead, draining or at its CPU limit", {
        details: [`${nodes.length} active node(s); try again in a few seconds, or add an SFU node (TAPEDECK_ROLES with sfu)`],
      });
    }
    if (current) {
      await this.db
        .updateTable("room_placements")
        .set({ node_id: chosen.id, placed_at: nowIso() })
        .where("room_id", "=", roomId)
        .where("node_id", "=", current.id)
        .execute();
    } else {
      await this.db
        .insertInto("room_placements")
        .values({ room_id: roomId, node_id: chosen.id, placed_at: nowIso() })
        .onConflict((oc) => oc.column("room_id").doNothing())
        .execute();
    }
    const winner = await this.placedOn(roomId);
    return winner ?? chosen;
  }

  /** Drops a dead node's placements; the rooms it held. */
  async release(nodeId: string): Promise<string[]> {
    const rows = await this.db.selectFrom("room_placements").select("room_id").where("node_id", "=", nodeId).execute();
    await this.db.deleteFrom("room_placements").where("node_id", "=", nodeId).execute();
    return rows.map((r) => r.room_id);
  }

  private async placedOn(roomId: string): Promise<NodeRow | null> {
    const row = await this.db
      .selectFrom("room_placements")
      .innerJoin("nodes", "nodes.id", "room_placements.node_id")
      .selectAll("nodes")
      .where("room_placements.room_id", "=", roomId)
      .executeTakeFirst();
    return row ?? null;
  }

  private async sessionOpen(roomId: string): Promise<boolean> {
    const s = await this.db.selectFrom("sessions").select("id").where("room_id", "=", roomId).where("active", "=", 1).executeTakeFirst();
    return Boolean(s);
  }
}
