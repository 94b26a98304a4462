import { z } from "zod";
import type { V2Routes } from "../api/server.ts";
import { objectIdParam, parseBody, parseParams } from "../api/validation.ts";
import { mintAppToken } from "../auth/tokens.ts";
import { AppError } from "../errors.ts";
import { getTemplate, templateParts } from "../templates/template.service.ts";
import { hasOwnKey } from "../util/own.ts";
import { controlCharMessage, findControlChar } from "../util/text.ts";
import { getRoom } from "./room.service.ts";

// `POST /v2/rooms/:id/tokens` (tapedeck extension): mints an app token for a role of the room's
// template, with the join URL of the room page. 100ms apps mint these themselves with the server SDK;
// both work, the token is the same.

/** Text shown to people or written to logs and CSVs: any Unicode, but no control or bidi-override characters. */
const printable = (field: string) => (s: string, ctx: z.RefinementCtx) => {
  const code = findControlChar(s);
  if (code) ctx.addIssue({ code: "custom", message: controlCharMessage(field, code) });
};

const body = z.strictObject({
  role: z.string().min(1).max(100),
  user_id: z.string().max(256).superRefine(printable("user_id")).optional(),
  valid_for_seconds: z
    .number()
    .int()
    .min(60)
    .max(90 * 86400)
    .optional(),
  name: z.string().trim().min(1).max(100).superRefine(printable("name")).optional(),
});

export const tokenRoutes: V2Routes = (v2, ctx) => {
  v2.post("/rooms/:id/tokens", async (req) => {
    const { id } = parseParams(z.object({ id: objectIdParam("room_id") }), req.params);
    const b = parseBody(body, req.body);
    const room = await getRoom(ctx.db, id);
    const roles = templateParts(await getTemplate(ctx.db, room.template_id)).roles;
    // Own roles only (never an inherited `constructor`), and never a hidden `__…` role: those are tapedeck's.
    if (!hasOwnKey(roles, b.role) || b.role.startsWith("__"))
      throw new AppError("invalid_body", `Invalid body param: role ${b.role} is not in the room's template`, {
        details: [`roles: ${Object.keys(roles).join(", ")}`],
      });
    const validFor = b.valid_for_seconds ?? 86400;
    const token = await mintAppToken(ctx.identity, { roomId: id, role: b.role, userId: b.user_id, validForSeconds: validFor });
    const url = new URL(`${ctx.config.publicUrl}/room/${id}`);
    url.searchParams.set("auth_token", token);
    if (b.name) url.searchParams.set("name", b.name);
    return {
      token,
      room_id: id,
      role: b.role,
      user_id: b.user_id ?? null,
      expires_at: new Date(Date.now() + validFor * 1000).toISOString(),
      join_url: url.toString(),
    };
  });
};
