import { timingSafeEqual } from "node:crypto";
import fsp from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import type { PublicRoutes } from "../api/server.ts";
import { parseBody } from "../api/validation.ts";
import { mintManagementToken } from "../auth/tokens.ts";
import { AppError } from "../errors.ts";
import { WEB_DIR } from "./web.routes.ts";

// The dashboard: one page (`web/dashboard.html`, its modules under `web/dashboard/`) that talks to the
// /v2 API with a management token, like any other client.
//   GET  /                      redirects to /dashboard
//   GET  /dashboard             the page (every view is a #/… route inside it)
//   POST /dashboard/sign-in     {access_key, secret} → {token, expires_at}: a management token for 12 h,
//                               so the secret is sent once and never kept by the page

const SESSION_SECONDS = 12 * 3600;
/** Wrong sign-ins allowed from one address within FAILURE_WINDOW_MS before it must wait for the window to pass. */
const MAX_FAILURES = 10;
const FAILURE_WINDOW_MS = 10 * 60_000;
/** Addresses remembered at most (memory stays bounded however many try). */
const MAX_ADDRESSES = 10_000;

const PAGE_HEADERS: Record<string, string> = {
  "cache-control": "no-cache",
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: http: https:; connect-src 'self' http: https:; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
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

/** Recent wrong sign-ins per client address: guessing the secret is slowed to 10 tries per 10 minutes. */
class SignInThrottle {
  private readonly failures = new Map<string, number[]>();

  /** Milliseconds this address must still wait, or 0. */
  waitFor(ip: string, now = Date.now()): number {
    const recent = (this.failures.get(ip) ?? []).filter((t) => now - t < FAILURE_WINDOW_MS);
    if (recent.length) this.failures.set(ip, recent);
    else this.failures.delete(ip);
    return recent.length >= MAX_FAILURES ? recent[0] + FAILURE_WINDOW_MS - now : 0;
  }

  failed(ip: string, now = Date.now()): void {
    const list = [...(this.failures.get(ip) ?? []), now].slice(-MAX_FAILURES);
    this.failures.delete(ip);
    this.failures.set(ip, list); // re-inserted: the Map's first key is the address that failed longest ago
    if (this.failures.size > MAX_ADDRESSES) this.failures.delete(this.failures.keys().next().value!);
  }

  succeeded(ip: string): void {
    this.failures.delete(ip);
  }
}

export const dashboardRoutes: PublicRoutes = (app, ctx) => {
  const throttle = new SignInThrottle();

  app.get("/", async (_req, reply) => reply.redirect("/dashboard", 302));

  app.get("/dashboard", async (_req, reply) => {
    const html = await fsp.readFile(path.join(WEB_DIR, "dashboard.html"));
    return reply.headers(PAGE_HEADERS).type("text/html; charset=utf-8").send(html);
  });

  app.post("/dashboard/sign-in", async (req) => {
    const wait = throttle.waitFor(req.ip);
    if (wait > 0) {
      throw new AppError("rate_limited", "Too many wrong sign-ins from this address", {
        details: [`try again in ${Math.ceil(wait / 1000)} s`, "or sign in with a management token (tapedeck token management)"],
      });
    }
    const body = parseBody(signInSchema, req.body);
    // Both compared, always, in constant time: which of the two was wrong is not told.
    const keyOk = same(body.access_key, ctx.identity.accessKey);
    const secretOk = same(body.secret, ctx.identity.appSecret);
    if (!keyOk || !secretOk) {
      throttle.failed(req.ip);
      req.log.warn({ ip: req.ip }, "dashboard sign-in refused");
      throw new AppError("unauthorized", "Wrong access key or secret", { details: ["use the app's access key and secret (printed at first start, and in <data dir>/identity.json), or sign in with a management token"] });
    }
    throttle.succeeded(req.ip);
    const token = await mintManagementToken(ctx.identity, SESSION_SECONDS);
    return { token, expires_at: new Date(Date.now() + SESSION_SECONDS * 1000).toISOString() };
  });
};
