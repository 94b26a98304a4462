import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import fsp from "node:fs/promises";
import path from "node:path";
import rateLimit from "@fastify/rate-limit";
import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import type { PublicRoutes } from "../api/server.ts";
import { parseBody } from "../api/validation.ts";
import { mintManagementToken } from "../auth/tokens.ts";
import type { AppIdentity } from "../config/identity.ts";
import { AppError } from "../errors.ts";
import { WEB_DIR } from "./web.routes.ts";

// The dashboard: one page (`web/dashboard.html`, its modules under `web/dashboard/`) that talks to the
// /v2 API with a management token, like any other client.
//   GET  /                      redirects to /dashboard
//   GET  /dashboard             the page (every view is a #/… route inside it)
//   POST /dashboard/sign-in     {access_key, secret} → {token, expires_at}: a management token for 12 h,
//                               so the secret is sent once and never kept by the page
//
// Guessing the secret is braked (counted with @fastify/rate-limit, wrong tries only): 10 wrong tries
// per client address per 10 minutes, and 100 per minute over all addresses. A braked attempt is refused
// unchecked, the right secret too: checking it would tell a guesser which guess was right, and the
// brake would slow nothing. So that a guesser sharing an address (or flooding the global brake) cannot
// lock out the people who use the dashboard, a successful sign-in leaves a signed device cookie
// (HttpOnly, SameSite=Strict, only sent to the sign-in path): a browser that has signed in before is
// braked on its own (10 wrong tries per 10 minutes) and not by address or globally.

const SESSION_SECONDS = 12 * 3600;
/** Wrong sign-ins allowed from one address (or one known browser) within BRAKE_WINDOW_MS; then it waits the window out. */
const MAX_FAILURES = 10;
const BRAKE_WINDOW_MS = 10 * 60_000;
/** Wrong sign-ins allowed over all addresses within a minute (browsers without a device cookie). */
const MAX_FAILURES_GLOBAL = 100;
/** Addresses (and browsers) remembered at most: memory stays bounded however many try. */
const MAX_ADDRESSES = 10_000;
const DEVICE_COOKIE = "tapedeck_device";
const DEVICE_DAYS = 30;

// img-src, like media-src and connect-src, allows http(s) anywhere: recording thumbnails are shown
// through presigned links to the recording's bucket (the internal bucket, or the user's S3/GCS/OSS),
// whose origin is not known in advance. Images run nothing; the page inserts only text from API data.
const PAGE_HEADERS: Record<string, string> = {
  "cache-control": "no-cache",
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: http: https:; media-src 'self' blob: http: https:; connect-src 'self' http: https:; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
};

const signInSchema = z.strictObject({
  access_key: z.string({ error: "access_key is required" }).min(1, "access_key is required").max(200),
  secret: z.string({ error: "secret is required" }).min(1, "secret is required").max(500),
});

const same = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** `<issued s>.<nonce>.<HMAC>`: keyed with the app secret, so a new secret forgets every browser. */
const deviceSignature = (identity: AppIdentity, issued: string, nonce: string) =>
  createHmac("sha256", identity.appSecret)
    .update(`tapedeck dashboard device\n${identity.accessKey}\n${issued}\n${nonce}`)
    .digest("base64url");

function newDeviceCookie(identity: AppIdentity, secure: boolean): string {
  const issued = String(Math.floor(Date.now() / 1000));
  const nonce = randomBytes(12).toString("base64url");
  const value = `${issued}.${nonce}.${deviceSignature(identity, issued, nonce)}`;
  return `${DEVICE_COOKIE}=${value}; Max-Age=${DEVICE_DAYS * 86400}; Path=/dashboard/sign-in; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`;
}

/** The nonce of a valid, unexpired device cookie in the request, or null. */
function knownDevice(identity: AppIdentity, cookieHeader: string | undefined): string | null {
  const pair = (cookieHeader ?? "")
    .split(";")
    .map((c) => c.trim())
    .find((c) => c.startsWith(`${DEVICE_COOKIE}=`));
  const m = /^(\d{1,12})\.([\w-]{16})\.([\w-]{43})$/.exec(pair?.slice(DEVICE_COOKIE.length + 1) ?? "");
  if (!m) return null;
  const age = Date.now() / 1000 - Number(m[1]);
  if (age < -60 || age > DEVICE_DAYS * 86400) return null;
  return same(m[3], deviceSignature(identity, m[1], m[2])) ? m[2] : null;
}

type Limiter = (req: FastifyRequest, opts?: { increment?: boolean }) => Promise<{ isAllowed: boolean; remaining?: number; ttl?: number }>;
interface Brake {
  limiter: Limiter;
  message: string;
}

/** Milliseconds `req` must still wait under this brake (its wrong tries used up), or 0. Counts nothing. */
async function waitFor(brake: Brake, req: FastifyRequest): Promise<number> {
  const r = await brake.limiter(req, { increment: false });
  return !r.isAllowed && r.remaining === 0 ? Math.max(1, r.ttl ?? 0) : 0;
}

export const dashboardRoutes: PublicRoutes = async (app, ctx) => {
  app.get("/", async (_req, reply) => reply.redirect("/dashboard", 302));

  app.get("/dashboard", async (_req, reply) => {
    const html = await fsp.readFile(path.join(WEB_DIR, "dashboard.html"));
    return reply.headers(PAGE_HEADERS).type("text/html; charset=utf-8").send(html);
  });

  // The sign-in in its own scope: the rate limiter's decorators stay there.
  await app.register(async (scope) => {
    await scope.register(rateLimit, { global: false, cache: MAX_ADDRESSES });
    const device = new WeakMap<FastifyRequest, string>();
    const perAddress: Brake = {
      limiter: scope.createRateLimit({ max: MAX_FAILURES, timeWindow: BRAKE_WINDOW_MS }),
      message: "Too many wrong sign-ins from this address",
    };
    const global: Brake = {
      limiter: scope.createRateLimit({ max: MAX_FAILURES_GLOBAL, timeWindow: 60_000, keyGenerator: () => "all addresses" }),
      message: "Too many wrong sign-ins on this server",
    };
    const perDevice: Brake = {
      limiter: scope.createRateLimit({
        max: MAX_FAILURES,
        timeWindow: BRAKE_WINDOW_MS,
        keyGenerator: (req) => `device ${device.get(req)}`,
      }),
      message: "Too many wrong sign-ins from this browser",
    };

    scope.post("/dashboard/sign-in", async (req, reply: FastifyReply) => {
      const known = knownDevice(ctx.identity, req.headers.cookie);
      if (known) device.set(req, known);
      const brakes = known ? [perDevice] : [perAddress, global];
      for (const brake of brakes) {
        const wait = await waitFor(brake, req);
        if (wait > 0) {
          void reply.header("retry-after", String(Math.ceil(wait / 1000)));
          throw new AppError("rate_limited", brake.message, {
            details: [`try again in ${Math.ceil(wait / 1000)} s`, "or sign in with a management token (tapedeck token management)"],
          });
        }
      }
      const body = parseBody(signInSchema, req.body);
      // Both compared, always, in constant time: which of the two was wrong is not told.
      const keyOk = same(body.access_key, ctx.identity.accessKey);
      const secretOk = same(body.secret, ctx.identity.appSecret);
      if (!keyOk || !secretOk) {
        for (const brake of brakes) await brake.limiter(req);
        req.log.warn({ ip: req.ip, knownBrowser: Boolean(known) }, "dashboard sign-in refused");
        throw new AppError("unauthorized", "Wrong access key or secret", {
          details: [
            "use the app's access key and secret (printed at first start, and in <data dir>/identity.json), or sign in with a management token",
          ],
        });
      }
      void reply.header("set-cookie", newDeviceCookie(ctx.identity, req.protocol === "https"));
      const token = await mintManagementToken(ctx.identity, SESSION_SECONDS);
      return { token, expires_at: new Date(Date.now() + SESSION_SECONDS * 1000).toISOString() };
    });
  });
};
