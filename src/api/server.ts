import sjson from "secure-json-parse";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from "fastify";
import type { AppContext } from "../app-context.ts";
import { bearerToken, verifyManagementToken } from "../auth/tokens.ts";
import { AppError, reasonForStatus } from "../errors.ts";
import { matchAddresses } from "../net/outbound-policy.ts";
import { answerClientError, httpServerOptions, limitConnectionsPerAddress } from "./connection-guard.ts";
import { CLIENT_SDK_PREFIXES, registerCors } from "./cors.ts";
import type { TlsMaterial } from "./tls.ts";
import { jsonNestedDeeperThan, MAX_JSON_DEPTH } from "./validation.ts";

export type V2Routes = (v2: FastifyInstance, ctx: AppContext) => Promise<void> | void;
export type PublicRoutes = (app: FastifyInstance, ctx: AppContext) => Promise<void> | void;

export interface ServerParts {
  /** Routes under /v2, behind the management token; mounted only in a process with the `api` role. */
  v2: V2Routes[];
  /** Routes outside /v2 (signed downloads, health, pages), each doing its own auth. */
  public: PublicRoutes[];
  /** Serve HTTPS (and the WebSockets as wss) with this certificate and key; plain HTTP when absent. */
  tls?: TlsMaterial | null;
}

const MAX_BODY_BYTES = 1024 * 1024;
const MAX_PARAM_LENGTH = 200;

export async function buildServer(ctx: AppContext, parts: ServerParts): Promise<FastifyInstance> {
  const http = ctx.config.http;
  const tls = parts.tls ?? null;
  const log = ctx.log.child({ component: "http" }) as FastifyBaseLogger;
  const isTrustedProxy = matchAddresses(http.trustedProxies);
  const app = Fastify({
    loggerInstance: log,
    bodyLimit: MAX_BODY_BYTES,
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
    // req.ip is the X-Forwarded-For client only when the peer (and each hop before it) is a trusted proxy.
    trustProxy: http.trustedProxies.length ? (address: string) => isTrustedProxy(address) : false,
    requestTimeout: http.requestTimeoutMs,
    keepAliveTimeout: http.keepAliveTimeoutMs,
    // Node's https server takes the same header and request deadlines as an http one.
    ...(tls ? { https: { ...httpServerOptions(http), cert: tls.cert, key: tls.key } } : { http: httpServerOptions(http) }),
    clientErrorHandler: answerClientError(http, log),
    frameworkErrors: (err, _req, reply) => {
      const e = frameworkError(err);
      void (reply as FastifyReply).status(e.status).type("application/json; charset=utf-8").send(e.toJSON());
    },
  });
  limitConnectionsPerAddress(app.server, { max: http.maxConnectionsPerAddress, isTrusted: isTrustedProxy, log });
  // Node answers an Expect other than 100-continue with an empty 417 unless told otherwise.
  app.server.on("checkExpectation", (req, res) => {
    const e = new AppError("invalid_request", "Unsupported Expect header", {
      status: 417,
      details: [`Expect: ${String(req.headers.expect).slice(0, 100)} is not supported; only 100-continue is`],
    });
    const body = JSON.stringify(e.toJSON());
    res
      .writeHead(417, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body), connection: "close" })
      .end(body);
  });

  // Every route, for the test that checks each one refuses an unauthenticated call.
  const routeList: Array<{ method: string; url: string }> = [];
  app.decorate("routeList", routeList);
  app.addHook("onRoute", (r) => {
    for (const method of [r.method].flat()) if (method !== "HEAD") routeList.push({ method, url: r.url });
  });

  app.addHook("onResponse", async (req, reply) => {
    req.log.info(
      { method: req.method, url: req.url.split("?")[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      "request",
    );
  });

  // Cross-origin calls from browser SDKs, on their paths only (before any other hook can refuse them).
  registerCors(app, { origins: ctx.config.cors.origins, prefixes: CLIENT_SDK_PREFIXES });

  // A WebSocket handshake `ws` would refuse with a plain-text answer is refused here, in the API's shape.
  // An upgrade answered over HTTP (refused, not found) leaves the socket to us: close it after the answer.
  app.addHook("onRequest", async (req, reply) => {
    if (String(req.headers.upgrade ?? "").toLowerCase() !== "websocket") return;
    reply.raw.once("finish", () => req.raw.socket?.end());
    void reply.header("connection", "close");
    const problem = webSocketHandshakeProblem(req.headers);
    if (problem) throw new AppError("invalid_request", "Invalid WebSocket handshake", { details: [problem] });
  });

  // Answers made without a body (a WebSocket route asked without an upgrade…) get the documented one.
  app.addHook("onSend", async (req, reply, payload) => {
    if (reply.statusCode < 400 || req.method === "HEAD" || (payload !== undefined && payload !== null && payload !== "")) return payload;
    const e = new AppError(reasonForStatus(reply.statusCode), STATUS_MESSAGES[reply.statusCode] ?? "Request refused", {
      status: reply.statusCode,
      details: [`${req.method} ${req.url.split("?")[0].slice(0, 200)}`],
    });
    void reply.type("application/json; charset=utf-8");
    return JSON.stringify(e.toJSON());
  });

  app.setErrorHandler((err: FastifyError | AppError | Error, req, reply) => {
    const appErr = toAppError(err, req.headers["content-type"]);
    if (appErr.status >= 500) req.log.error({ err }, "request failed");
    void reply.status(appErr.status).type("application/json").send(appErr.toJSON());
  });
  const servesApi = ctx.config.roles.has("api");
  app.setNotFoundHandler((req, reply) => {
    const urlPath = req.url.split("?")[0];
    const details = [`no route for ${req.method} ${urlPath}`];
    if (!servesApi && (urlPath === "/v2" || urlPath.startsWith("/v2/"))) {
      details.push(
        `this process does not serve the API (TAPEDECK_ROLES=${[...ctx.config.roles].join(",")}): call a process with the api role`,
      );
    }
    const e = new AppError("not_found", "Not found", { details });
    void reply.status(404).send(e.toJSON());
  });

  // Body-less POSTs (stop, pause…) are common; an empty JSON body is `{}`, not an error.
  // JSON is the only body the API takes (text/plain would reach handlers as a string).
  app.removeContentTypeParser(["application/json", "text/plain"]);
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === "") return done(null, {});
    if (jsonNestedDeeperThan(text, MAX_JSON_DEPTH)) {
      const details = [`objects and arrays may be nested at most ${MAX_JSON_DEPTH} levels deep`];
      return done(new AppError("invalid_body", `Invalid body: JSON nested deeper than ${MAX_JSON_DEPTH} levels`, { details }), undefined);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      return done(new AppError("invalid_body", "Invalid body: not valid JSON", { details: [(e as Error).message] }), undefined);
    }
    // `__proto__` (and `constructor.prototype`) keys are data to JSON.parse but a prototype to any later
    // Object.assign or merge: refused here, as Fastify's own parser does, so no handler ever sees one.
    try {
      if (parsed !== null && typeof parsed === "object")
        sjson.scan(parsed as Record<string, unknown>, { protoAction: "error", constructorAction: "error" });
    } catch {
      const details = ["keys named __proto__, or constructor holding prototype, are not accepted anywhere in a body"];
      return done(new AppError("invalid_body", "Invalid body: forbidden key __proto__ or constructor.prototype", { details }), undefined);
    }
    done(null, parsed);
  });

  // TAPEDECK_ROLES without `api`: no public API here (the 404 above says so).
  if (servesApi) {
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
  }
  for (const routes of parts.public) await routes(app, ctx);
  return app;
}

const TOKEN_LIST = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+(\s*,\s*[!#$%&'*+\-.^_`|~0-9A-Za-z]+)*$/;

/** What is wrong with a WebSocket upgrade's headers (the checks `ws` makes), or null. */
function webSocketHandshakeProblem(headers: Record<string, string | string[] | undefined>): string | null {
  const key = headers["sec-websocket-key"];
  if (typeof key !== "string" || !/^[+/0-9A-Za-z]{22}==$/.test(key)) return "Sec-WebSocket-Key must be 16 random bytes in base64";
  const version = headers["sec-websocket-version"];
  if (version !== "13" && version !== "8") return "send Sec-WebSocket-Version: 13";
  const protocols = headers["sec-websocket-protocol"];
  if (protocols !== undefined && (typeof protocols !== "string" || !TOKEN_LIST.test(protocols)))
    return "Sec-WebSocket-Protocol must be a comma-separated list of tokens";
  return null;
}

const STATUS_MESSAGES: Record<number, string> = { 404: "Not found", 405: "Method not allowed", 429: "Too many requests" };

/** Errors Fastify raises while reading a request, each with what was wrong and how to fix it. */
function toAppError(err: unknown, contentType: string | undefined): AppError {
  if (err instanceof AppError) return err;
  const fe = err as FastifyError;
  if (fe?.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
    return new AppError(
      "unsupported_media_type",
      `Unsupported content type ${contentType ? JSON.stringify(contentType.slice(0, 100)) : "(none)"}`,
      {
        details: ["send the body as JSON with the header Content-Type: application/json"],
      },
    );
  }
  if (fe?.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
    return new AppError("payload_too_large", "Request body is too large", {
      details: [`a request body may be at most ${MAX_BODY_BYTES} bytes`],
    });
  }
  if (fe && typeof fe.statusCode === "number" && fe.statusCode < 500) {
    const reason = fe.statusCode === 400 ? "invalid_body" : reasonForStatus(fe.statusCode);
    return new AppError(reason, fe.message, { status: fe.statusCode, details: fe.code ? [fe.code] : [] });
  }
  return new AppError("internal", "Internal error", { cause: err });
}

/** Requests the router refuses before any route: bad URL encoding, an over-long path segment. */
function frameworkError(err: FastifyError): AppError {
  if (err.code === "FST_ERR_BAD_URL") {
    return new AppError("invalid_param", "Invalid URL: the path is not valid URL encoding", {
      details: [`${err.message.slice(0, 300)}: each % must start a valid UTF-8 percent-escape such as %2F`],
    });
  }
  if (err.code === "FST_ERR_MAX_PARAM_LENGTH") {
    return new AppError("uri_too_long", "A path segment is too long", {
      details: [`a path parameter may be at most ${MAX_PARAM_LENGTH} characters`],
    });
  }
  return new AppError("internal", "Internal error", { cause: err });
}
