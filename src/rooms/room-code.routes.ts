import rateLimit from "@fastify/rate-limit";
import type { FastifyReply, FastifyRequest } from "fastify";
import sjson from "secure-json-parse";
import { z } from "zod";
import { registerCors } from "../api/cors.ts";
import type { PublicRoutes, V2Routes } from "../api/server.ts";
import { jsonNestedDeeperThan, MAX_JSON_DEPTH, objectIdParam, parseBody, parseParams, parseQuery, queryBool } from "../api/validation.ts";
import { AppError } from "../errors.ts";
import { controlCharMessage, findControlChar } from "../util/text.ts";
import { codesForRoom, listCodes, newCodeForRole, resolveCode, setCodeEnabled, tokenForCode } from "./room-code.service.ts";

// Room codes (100ms's `/v2/room-codes`), behind the management token like every /v2 route:
//   POST /v2/room-codes/room/:room_id             one enabled code per role of the room's template → {data: [code…]}
//   POST /v2/room-codes/room/:room_id/role/:role  a new code for one role → code
//   GET  /v2/room-codes/room/:room_id             ?role= &enabled= &limit= (default 20) &start= → {limit, data, last}
//   POST /v2/room-codes/code                      {code, enabled} → code
// and, public, what a code is good for:
//   POST /api/token        {code, user_id?} → {token}: the `endpoint` of the client SDK's getAuthTokenByRoomCode
//                          (the SDK posts the JSON as text/plain, from the app's origin: CORS as /init)
//   GET  /meeting/:code    100ms's Prebuilt link shape: redirects to the room page with a fresh app token
//                          for the code's role (`?name=`, `?skip_preview=true` passed on, `?userId=` → user_id)
//
// A code is a password to a room, and 26^10 of them can be tried: unknown codes are braked (counted with
// @fastify/rate-limit, unknown codes only) at UNKNOWN_PER_ADDRESS per address (an IPv6 /64 counts as one)
// per 10 minutes and UNKNOWN_GLOBAL per minute over all addresses; a braked request is refused (429)
// unchecked, a right code too, or the refusal would tell a guesser which guess was right.

export const TOKEN_PATH = "/api/token";
export const MEETING_PATH = "/meeting";

/** Unknown codes allowed from one address (IPv6: one /64) per BRAKE_WINDOW_MS. */
export const UNKNOWN_PER_ADDRESS = 20;
const BRAKE_WINDOW_MS = 10 * 60_000;
/** Unknown codes allowed per minute over all addresses. */
export const UNKNOWN_GLOBAL = 300;
/** Addresses remembered at most: memory stays bounded however many try. */
const MAX_ADDRESSES = 10_000;
/** `{code, user_id}` is small: anything bigger is refused before it is read. */
const TOKEN_BODY_LIMIT = 4096;

const roomParams = z.object({ room_id: objectIdParam("room_id") });
const roleParams = z.object({ room_id: objectIdParam("room_id"), role: z.string().min(1).max(100) });
const listQuery = z.object({
  role: z.string({ error: "role must be given once" }).min(1).max(100).optional(),
  enabled: queryBool.optional(),
  // 100ms's sample answers `"limit": 20` when none is asked for.
  limit: z.coerce
    .number({ error: "limit must be a number" })
    .int("limit must be a whole number")
    .min(1, "limit must be between 1 and 100")
    .max(100, "limit must be between 1 and 100")
    .default(20),
  start: z
    .string({ error: "start must be given once" })
    .max(64, "start must be the `last` of a previous page")
    .regex(/^[A-Za-z-]*$/, "start must be the `last` of a previous page (a room code)")
    .optional(),
});
const updateBody = z.strictObject({
  code: z.string({ error: "code is required" }).min(1, "code is required").max(64),
  enabled: z.boolean({ error: "enabled must be true or false" }),
});

export const roomCodeRoutes: V2Routes = (v2, ctx) => {
  v2.post("/room-codes/room/:room_id", async (req) => {
    const { room_id } = parseParams(roomParams, req.params);
    return { data: await codesForRoom(ctx, room_id) };
  });

  v2.post("/room-codes/room/:room_id/role/:role", async (req) => {
    const { room_id, role } = parseParams(roleParams, req.params);
    return newCodeForRole(ctx, room_id, role);
  });

  v2.get("/room-codes/room/:room_id", async (req) => {
    const { room_id } = parseParams(roomParams, req.params);
    const q = parseQuery(listQuery, req.query);
    return listCodes(ctx, room_id, q);
  });

  v2.post("/room-codes/code", async (req) => {
    const b = parseBody(updateBody, req.body);
    return setCodeEnabled(ctx, b.code, b.enabled);
  });
};

/** What the SDK sends; other clients may send `user_id: null`, and fields this endpoint does not use. */
const tokenBody = z.object({
  code: z.string({ error: "code is required" }).min(1, "code is required").max(64, "code is at most 64 characters"),
  user_id: z
    .string({ error: "user_id must be a string" })
    .max(256, "user_id is at most 256 characters")
    .superRefine((s, c) => {
      const bad = findControlChar(s);
      if (bad) c.addIssue({ code: "custom", message: controlCharMessage("user_id", bad) });
    })
    .nullish(),
});

/**
 * The SDK posts `JSON.stringify({code, user_id})` without a Content-Type, so the browser sends it as
 * text/plain (which also spares a CORS preflight): read as JSON here, with the API's JSON rules.
 */
function parseJsonText(text: string): unknown {
  if (text.trim() === "") return {};
  if (jsonNestedDeeperThan(text, MAX_JSON_DEPTH))
    throw new AppError("invalid_body", `Invalid body: JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  try {
    return sjson.parse(text, undefined, { protoAction: "error", constructorAction: "error" });
  } catch (e) {
    throw new AppError("invalid_body", "Invalid body: not valid JSON", { details: [(e as Error).message.slice(0, 200)] });
  }
}

type Limiter = (req: FastifyRequest, opts?: { increment?: boolean }) => Promise<{ isAllowed: boolean; remaining?: number; ttl?: number }>;
interface Brake {
  limiter: Limiter;
  message: string;
}

const PAGE_HEADERS: Record<string, string> = {
  "cache-control": "no-store",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
};

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);

function page(reply: FastifyReply, status: number, title: string, text: string): FastifyReply {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · tapedeck</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}</style></head>
<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>`;
  return reply.code(status).headers(PAGE_HEADERS).type("text/html; charset=utf-8").send(html);
}

const meetingQuery = z.object({
  name: z.string().max(100).optional(),
  userId: z.string().max(256).optional(),
  skip_preview: z.string().max(10).optional(),
});

/** The token endpoint and the meeting links, in one scope: CORS, the text/plain body and the brakes stay here. */
export const roomCodePublicRoutes: PublicRoutes = async (app, ctx) => {
  await app.register(async (scope) => {
    registerCors(scope, { origins: ctx.config.cors.origins, prefixes: [TOKEN_PATH] });
    scope.addContentTypeParser("text/plain", { parseAs: "string", bodyLimit: TOKEN_BODY_LIMIT }, (_req, body, done) => {
      try {
        done(null, parseJsonText(String(body)));
      } catch (err) {
        done(err as Error, undefined);
      }
    });
    await scope.register(rateLimit, { global: false, cache: MAX_ADDRESSES });
    const brakes: Brake[] = [
      {
        limiter: scope.createRateLimit({ max: UNKNOWN_PER_ADDRESS, timeWindow: BRAKE_WINDOW_MS }),
        message: "Too many unknown room codes from this address",
      },
      {
        limiter: scope.createRateLimit({ max: UNKNOWN_GLOBAL, timeWindow: 60_000, keyGenerator: () => "all addresses" }),
        message: "Too many unknown room codes on this server",
      },
    ];
    /** The brake holding `req` back and for how many ms, or null. Counts nothing. */
    const braked = async (req: FastifyRequest): Promise<{ brake: Brake; waitMs: number } | null> => {
      for (const brake of brakes) {
        const r = await brake.limiter(req, { increment: false });
        if (!r.isAllowed && r.remaining === 0) return { brake, waitMs: Math.max(1, r.ttl ?? 0) };
      }
      return null;
    };
    const countUnknown = async (req: FastifyRequest) => {
      for (const brake of brakes) await brake.limiter(req);
      req.log.warn({ ip: req.ip }, "unknown room code");
    };

    // A preflight is answered by the CORS hook; any other OPTIONS just says what the path takes.
    scope.options(TOKEN_PATH, async (_req, reply) => reply.header("allow", "POST, OPTIONS").status(204).send());

    scope.post(TOKEN_PATH, { bodyLimit: TOKEN_BODY_LIMIT }, async (req, reply) => {
      void reply.header("cache-control", "no-store");
      const brake = await braked(req);
      if (brake) {
        const seconds = Math.ceil(brake.waitMs / 1000);
        void reply.header("retry-after", String(seconds));
        throw new AppError("rate_limited", brake.brake.message, { details: [`try again in ${seconds} s`] });
      }
      const body = parseBody(tokenBody, req.body);
      const found = await resolveCode(ctx, body.code);
      if (!found.ok) {
        if (found.refusal === "unknown") await countUnknown(req);
        throw found.error;
      }
      return { token: await tokenForCode(ctx, found.room, found.role, body.user_id ?? undefined) };
    });

    scope.get<{ Params: { code: string } }>(`${MEETING_PATH}/:code`, async (req, reply) => {
      if (await braked(req))
        return page(
          reply,
          429,
          "Too many tries",
          "Too many links that do not exist were opened from here. Wait a few minutes and try again.",
        );
      const found = await resolveCode(ctx, req.params.code);
      if (!found.ok) {
        if (found.refusal === "unknown") {
          await countUnknown(req);
          return page(reply, 404, "This link is not valid", "Check the address, or ask whoever sent it for a new link.");
        }
        if (found.refusal === "room_disabled") return page(reply, 403, "This room is closed", "This room is closed.");
        return page(reply, 403, "This link is not valid", "This link has been turned off. Ask whoever sent it for a new link.");
      }
      const q = meetingQuery.safeParse(req.query);
      const opts = q.success ? q.data : {};
      const userId = opts.userId && !findControlChar(opts.userId) ? opts.userId : undefined;
      const token = await tokenForCode(ctx, found.room, found.role, userId);
      // The room page takes its token from the address (100ms's meeting-URL shape); the code in this
      // link grants as much and for longer, so the token in the next address exposes nothing more.
      const target = new URLSearchParams({ auth_token: token });
      if (opts.name?.trim() && !findControlChar(opts.name)) target.set("name", opts.name.trim());
      if (opts.skip_preview === "true") target.set("skip_preview", "true");
      return reply
        .headers({ "cache-control": "no-store", "referrer-policy": "no-referrer" })
        .redirect(`/room/${found.room.id}?${target.toString()}`, 302);
    });
  });
};
