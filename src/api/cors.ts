import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Config } from "../config/config.ts";
import { AppError } from "../errors.ts";

// Cross-origin calls from browsers, for the endpoints client SDKs call from an app's page on another
// origin (the 100ms SDK's `GET /init` with `Authorization: Bearer <app token>`). Only the paths listed
// here answer CORS: /v2 is for servers (a management token never belongs in a browser), and the pages
// are same-origin. No cookies are used on these paths, so `*` is a safe answer when any origin is allowed.
//
// A request whose Origin is allowed gets `Access-Control-Allow-Origin`; a preflight (`OPTIONS` with
// `Access-Control-Request-Method`) is answered here with 204 and what may follow. A disallowed origin
// gets no CORS headers (the browser then refuses to hand over the answer) and its preflight a 403.

/**
 * Path prefixes of the client-SDK endpoints that answer cross-origin requests. A route a browser SDK
 * calls from another origin is added here (a prefix covers the path itself and everything below it).
 */
export const CLIENT_SDK_PREFIXES: readonly string[] = ["/init"];

export interface CorsOptions {
  /** Origins whose pages may call these paths, or `*` for any. */
  origins: Config["cors"]["origins"];
  /** Path prefixes that answer CORS (`/init` covers `/init` and `/init/…`, not `/initial`). */
  prefixes: readonly string[];
}

export const CORS_METHODS = "GET, POST, OPTIONS";
export const CORS_HEADERS = "Authorization, Content-Type";
/** How long a browser may reuse a preflight answer (Chromium caps it at 2 h). */
export const CORS_MAX_AGE_SECONDS = 7200;

/** Does `urlPath` (no query) fall under one of the prefixes? */
export function isCorsPath(prefixes: readonly string[], urlPath: string): boolean {
  return prefixes.some((p) => urlPath === p || urlPath.startsWith(`${p}/`));
}

/** The `Access-Control-Allow-Origin` value for a request from `origin`, or null when it is not allowed. */
export function allowedOrigin(origins: CorsOptions["origins"], origin: string | undefined): string | null {
  if (!origin) return null;
  if (origins === "*") return "*";
  return origins.includes(origin) ? origin : null;
}

/** Adds the CORS hook to `app` (every route and the 404 handler, so a preflight needs no route of its own). */
export function registerCors(app: FastifyInstance, opts: CorsOptions): void {
  app.addHook("onRequest", async (req, reply) => {
    const urlPath = req.url.split("?")[0];
    if (!isCorsPath(opts.prefixes, urlPath)) return;
    // A preflight is answered here: returning the reply tells Fastify it was sent.
    if (answerCors(req, reply, opts)) return reply;
  });
}

/** Sets the CORS headers; answers (and returns true for) an allowed preflight, throws a 403 for a refused one. */
function answerCors(req: FastifyRequest, reply: FastifyReply, opts: CorsOptions): boolean {
  // The answer depends on Origin (caches must not hand one origin's answer to another).
  void reply.header("vary", "Origin");
  const origin = typeof req.headers.origin === "string" ? req.headers.origin : undefined;
  const allow = allowedOrigin(opts.origins, origin);
  const preflight = req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined;
  if (!preflight) {
    if (allow) void reply.header("access-control-allow-origin", allow);
    return false;
  }
  if (!allow) {
    throw new AppError("forbidden", "Origin not allowed", {
      details: [
        `${origin ? JSON.stringify(origin.slice(0, 200)) : "a request without Origin"} may not call ${urlPathOf(req)} from a browser: add the origin to TAPEDECK_CORS_ORIGINS`,
      ],
    });
  }
  void reply
    .header("access-control-allow-origin", allow)
    .header("access-control-allow-methods", CORS_METHODS)
    .header("access-control-allow-headers", CORS_HEADERS)
    .header("access-control-max-age", String(CORS_MAX_AGE_SECONDS))
    .status(204)
    .send();
  return true;
}

const urlPathOf = (req: FastifyRequest): string => req.url.split("?")[0].slice(0, 200);
