import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from "fastify";
import type { AppContext } from "../app-context.ts";
import { bearerToken, verifyManagementToken } from "../auth/tokens.ts";
import { AppError } from "../errors.ts";

export type V2Routes = (v2: FastifyInstance, ctx: AppContext) => Promise<void> | void;
export type PublicRoutes = (app: FastifyInstance, ctx: AppContext) => Promise<void> | void;

export interface ServerParts {
  /** Routes under /v2, behind the management token. */
  v2: V2Routes[];
  /** Routes outside /v2 (signed downloads, health, pages), each doing its own auth. */
  public: PublicRoutes[];
}

const MAX_BODY_BYTES = 1024 * 1024;

export async function buildServer(ctx: AppContext, parts: ServerParts): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.log.child({ component: "http" }) as FastifyBaseLogger,
    bodyLimit: MAX_BODY_BYTES,
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
  });

  // Every route, for the test that checks each one refuses an unauthenticated call.
  const routeList: Array<{ method: string; url: string }> = [];
  app.decorate("routeList", routeList);
  app.addHook("onRoute", (r) => {
    for (const method of [r.method].flat()) if (method !== "HEAD") routeList.push({ method, url: r.url });
  });

  app.addHook("onResponse", async (req, reply) => {
    req.log.info({ method: req.method, url: req.url.split("?")[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, "request");
  });

  app.setErrorHandler((err: FastifyError | AppError | Error, req, reply) => {
    const appErr = toAppError(err);
    if (appErr.status >= 500) req.log.error({ err }, "request failed");
    void reply.status(appErr.status).type("application/json").send(appErr.toJSON());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new AppError("not_found", "Not found", { details: [`no route for ${req.method} ${req.url.split("?")[0]}`] });
    void reply.status(404).send(e.toJSON());
  });

  // Body-less POSTs (stop, pause…) are common; an empty JSON body is `{}`, not an error.
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === "") return done(null, {});
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      done(new AppError("invalid_body", "Invalid body: not valid JSON", { details: [(e as Error).message] }), undefined);
    }
  });

  await app.register(
    async (v2) => {
      v2.addHook("onRequest", async (req) => {
        const token = bearerToken(req.headers.authorization);
        await verifyManagementToken(ctx.identity, token);
      });
      for (const routes of parts.v2) await routes(v2, ctx);
    },
    { prefix: "/v2" },
  );
  for (const routes of parts.public) await routes(app, ctx);
  return app;
}

function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const fe = err as FastifyError;
  if (fe && typeof fe.statusCode === "number" && fe.statusCode < 500) {
    const reason = fe.statusCode === 413 ? "payload_too_large" : fe.statusCode === 415 ? "unsupported_media_type" : fe.statusCode === 404 ? "not_found" : "invalid_body";
    return new AppError(reason, fe.message, { status: fe.statusCode, details: fe.code ? [fe.code] : [] });
  }
  return new AppError("internal", "Internal error", { cause: err });
}
