import type { PublicRoutes } from "../api/server.ts";
import type { ToolCheck } from "./boot-checks.ts";

/** GET /health: liveness plus the boot checks, without auth (it reveals no configuration). */
export const healthRoutes =
  (checks: () => ToolCheck[]): PublicRoutes =>
  (app, ctx) => {
    app.get("/health", async () => {
      await ctx.db.selectFrom("app_settings").select("key").limit(1).execute();
      const tools = checks();
      return {
        status: "ok",
        database: ctx.dialect,
        recording_ready: tools.every((t) => t.ok),
        tools: Object.fromEntries(
          tools.map((t) => [t.name, t.ok ? { ok: true, version: t.version } : { ok: false, problem: t.problem, fix: t.fix }]),
        ),
      };
    });
  };
