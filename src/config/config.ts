import net from "node:net";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { PRESETS, type Preset } from "../media/x264-presets.ts";
import { RENDERERS, type Renderer } from "../domain/recording-types.ts";
import type { UploadConfig } from "../domain/upload-config.ts";

// One schema for every setting: it parses the environment, gives the defaults and the types.
// A bad value stops the boot with `KEY=value: reason` lines rather than surfacing later.

export const ROLES = ["api", "sfu", "worker"] as const;
export type Role = (typeof ROLES)[number];

const intFromEnv = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);

/** `10.0.0.0/8, ::1/128, 169.254.169.254` → the entries, each an address or an address/prefix (CIDR). */
const cidrList = z
  .string()
  .default("")
  .transform((s) =>
    s
      .split(",")
      .map((c) => c.trim())
      .filter(Boolean),
  )
  .superRefine((list, ctx) => {
    for (const c of list) {
      const [addr, prefix, extra] = c.split("/");
      const family = net.isIP(addr);
      const max = family === 6 ? 128 : 32;
      const ok = family !== 0 && extra === undefined && (prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= max));
      if (!ok)
        ctx.addIssue({ code: "custom", message: `${JSON.stringify(c)} is not an IP address or CIDR range (e.g. 10.0.0.0/8, fd00::/8)` });
    }
  });

/**
 * `*` (any origin), or `https://app.example.com, http://localhost:3000`: each an http(s) origin
 * (scheme, host, optional port; no path), as a browser sends it in `Origin`.
 */
const originList = z
  .string()
  .default("*")
  .transform((s, ctx): "*" | string[] => {
    const list = s
      .split(",")
      .map((o) => o.trim())
      .filter(Boolean);
    if (list.length === 1 && list[0] === "*") return "*";
    if (list.length === 0 || list.includes("*")) {
      ctx.addIssue({ code: "custom", message: "must be * alone, or a comma-separated list of origins such as https://app.example.com" });
      return z.NEVER;
    }
    const origins: string[] = [];
    for (const o of list) {
      const origin = parseOrigin(o);
      if (origin) origins.push(origin);
      else
        ctx.addIssue({
          code: "custom",
          message: `${JSON.stringify(o)} is not an origin: give scheme and host (and port), without a path, e.g. https://app.example.com or http://localhost:3000`,
        });
    }
    return origins;
  });

/** `https://App.example.com/` → `https://app.example.com`; null when not an http(s) origin without path, query or credentials. */
function parseOrigin(text: string): string | null {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return null;
  }
  const bare = (u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "" && !u.username && !u.password;
  const noPath = u.pathname === "/" && !u.search && !u.hash && !text.includes("?") && !text.includes("#");
  return bare && noPath ? u.origin : null;
}

const envFields = z.object({
  PORT: intFromEnv(8080, 0, 65535),
  HOST: z.string().min(1).default("0.0.0.0"),
  TAPEDECK_DATA_DIR: z.string().min(1).default("./data"),
  TAPEDECK_PUBLIC_URL: z.string().url().optional(),
  DATABASE_URL: z
    .string()
    .regex(/^(postgres(ql)?:\/\/|sqlite:)/, "must start with postgres://, postgresql:// or sqlite:")
    .optional(),
  TAPEDECK_ROLES: z
    .string()
    .default(ROLES.join(","))
    .transform((s) =>
      s
        .split(",")
        .map((r) => r.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(ROLES)).min(1)),
  TAPEDECK_RETENTION_DAYS: z.coerce.number().positive().max(3650).default(15),
  TAPEDECK_SWEEP_INTERVAL_SECONDS: intFromEnv(3600, 1, 86400),
  TAPEDECK_WEBHOOK_TIMEOUT_MS: intFromEnv(10_000, 100, 120_000),
  TAPEDECK_WEBHOOK_RETRY_HOURS: z.coerce
    .number()
    .min(24)
    .max(24 * 30)
    .default(26),
  TAPEDECK_PRESIGN_SECONDS: intFromEnv(3 * 86400, 60, 7 * 86400),
  TAPEDECK_SFU_PROCESSES: z.coerce.number().int().min(0).max(64).optional(),
  // "off" turns CPU admission off (cpuLimit Infinity): for a process whose CPU reading is not the
  // SFU's own, such as a test process that also runs the test's clients.
  TAPEDECK_SFU_CPU_LIMIT: z
    .union([z.literal("off").transform(() => Number.POSITIVE_INFINITY), z.coerce.number().min(0.1).max(1)], {
      error: "must be a share of a core between 0.1 and 1, or off",
    })
    .default(0.85),
  TAPEDECK_COMPOSITE_CHUNK_SECONDS: intFromEnv(30, 2, 600),
  TAPEDECK_RECONNECT_WINDOW_SECONDS: intFromEnv(60, 0, 600),
  TAPEDECK_SFU_REMB: z.enum(["on", "off"], { error: "must be on or off" }).default("on"),
  TAPEDECK_BEAM_MAX: z.coerce.number().int().min(0).max(64).optional(),
  TAPEDECK_HLS_MAX: z.coerce.number().int().min(0).max(64).optional(),
  TAPEDECK_HLS_CORES: z.coerce.number().min(0.25).max(256).optional(),
  TAPEDECK_RECORDING_RENDERER: z.enum(RENDERERS, { error: "must be compositor or browser" }).default("compositor"),
  TAPEDECK_HLS_PRESET: z.enum(PRESETS, { error: `must be one of ${PRESETS.join(", ")}` }).default("superfast"),
  // HTTP server limits (slow clients must not hold connections forever).
  TAPEDECK_HTTP_REQUEST_TIMEOUT_SECONDS: intFromEnv(30, 1, 3600),
  TAPEDECK_HTTP_HEADERS_TIMEOUT_SECONDS: intFromEnv(10, 1, 600),
  TAPEDECK_HTTP_KEEPALIVE_SECONDS: intFromEnv(5, 1, 600),
  TAPEDECK_HTTP_MAX_CONNECTIONS_PER_ADDRESS: intFromEnv(256, 1, 100_000),
  // Addresses whose X-Forwarded-For is believed (reverse proxies).
  TAPEDECK_TRUSTED_PROXIES: cidrList,
  // Outbound target policy for webhooks, storage endpoints and meeting_url.
  TAPEDECK_OUTBOUND_DENY: cidrList,
  TAPEDECK_OUTBOUND_ALLOW: cidrList,
  // Per-peer signalling limits.
  TAPEDECK_CHAT_MAX_BYTES: intFromEnv(4096, 16, 65_536),
  TAPEDECK_CHAT_PER_SECOND: z.coerce.number().min(0.1).max(1000).default(5),
  TAPEDECK_CHAT_BURST: intFromEnv(20, 1, 10_000),
  TAPEDECK_FLOOD_STRIKES: intFromEnv(20, 1, 10_000),
  // HTTPS served by tapedeck itself: a PEM certificate (chain) and its private key, both or neither.
  TAPEDECK_TLS_CERT: z.string().min(1, "must be the path of a PEM certificate file").optional(),
  TAPEDECK_TLS_KEY: z.string().min(1, "must be the path of a PEM private key file").optional(),
  // Origins whose pages may call the client-SDK endpoints (`/init`…) from a browser.
  TAPEDECK_CORS_ORIGINS: originList,
  // Scale-out: several nodes on one PostgreSQL and one bucket (docs/cluster.md).
  TAPEDECK_CLUSTER: z.enum(["on", "off"], { error: "must be on or off" }).default("off"),
  TAPEDECK_NODE_ID: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit")
    .optional(),
  TAPEDECK_NODE_URL: z.string().url().optional(),
  TAPEDECK_HEARTBEAT_SECONDS: intFromEnv(2, 1, 60),
  TAPEDECK_NODE_DEAD_SECONDS: intFromEnv(10, 3, 600),
  // A node whose machine is busier than this share of its CPU gets no new rooms ("off": no limit).
  TAPEDECK_NODE_CPU_LIMIT: z
    .union([z.literal("off").transform(() => Number.POSITIVE_INFINITY), z.coerce.number().min(0.1).max(1)], {
      error: "must be a share of the machine's CPU between 0.1 and 1, or off",
    })
    .default(0.9),
  // The internal bucket on an S3-protocol store instead of the data directory: s3://bucket[/prefix] (gs://, oss:// too).
  TAPEDECK_BUCKET: z
    .string()
    .regex(/^(s3|gs|oss):\/\/[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](\/.*)?$/, "must be s3://bucket[/prefix] (or gs://, oss://)")
    .optional(),
  TAPEDECK_BUCKET_ENDPOINT: z
    .string()
    .url()
    .refine((u) => /^https?:\/\//.test(u), "must be an http(s) URL such as https://minio.example.com")
    .optional(),
  TAPEDECK_BUCKET_REGION: z.string().min(1).optional(),
  TAPEDECK_BUCKET_ACCESS_KEY: z.string().min(1).optional(),
  TAPEDECK_BUCKET_SECRET_KEY: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

/** Settings that only make sense together. */
const envSchema = envFields.superRefine((e, ctx) => {
  if (e.TAPEDECK_NODE_DEAD_SECONDS < 3 * e.TAPEDECK_HEARTBEAT_SECONDS)
    ctx.addIssue({
      code: "custom",
      path: ["TAPEDECK_NODE_DEAD_SECONDS"],
      message: `must be at least three heartbeats (3 × TAPEDECK_HEARTBEAT_SECONDS = ${3 * e.TAPEDECK_HEARTBEAT_SECONDS}), or a slow heartbeat declares a live node dead`,
    });
  if (Boolean(e.TAPEDECK_BUCKET_ACCESS_KEY) !== Boolean(e.TAPEDECK_BUCKET_SECRET_KEY))
    ctx.addIssue({
      code: "custom",
      path: [e.TAPEDECK_BUCKET_ACCESS_KEY ? "TAPEDECK_BUCKET_SECRET_KEY" : "TAPEDECK_BUCKET_ACCESS_KEY"],
      message:
        "TAPEDECK_BUCKET_ACCESS_KEY and TAPEDECK_BUCKET_SECRET_KEY go together: set both, or neither (the SDK's default credentials)",
    });
  if (Boolean(e.TAPEDECK_TLS_CERT) === Boolean(e.TAPEDECK_TLS_KEY)) return;
  const [set, unset] = e.TAPEDECK_TLS_CERT ? ["TAPEDECK_TLS_CERT", "TAPEDECK_TLS_KEY"] : ["TAPEDECK_TLS_KEY", "TAPEDECK_TLS_CERT"];
  ctx.addIssue({
    code: "custom",
    path: [unset],
    message: `${set} is set but ${unset} is not: set both (the PEM certificate and its private key) to serve HTTPS, or neither`,
  });
});

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  /** Base URL that clients use to reach this server (signed download links point here). */
  publicUrl: string;
  /** `postgres://…` or `sqlite:<file>`; the default is SQLite in the data directory. */
  databaseUrl: string;
  roles: Set<Role>;
  retentionMs: number;
  sweepIntervalMs: number;
  /** Default validity of presigned download URLs when a caller gives none. */
  presignSeconds: number;
  webhooks: WebhookDeliveryConfig;
  sfu: {
    /** Send REMB bandwidth feedback to publishers (off only to measure what it buys). */
    remb: boolean;
    /** SFU shard processes (rooms hashed across them); 0 runs the SFU inside the api process. */
    processes: number;
    /** Cores (fraction of one) above which a shard refuses new publishers. */
    cpuLimit: number;
    /** How long a peer that joined with `reconnect` is kept after its socket drops (0: it leaves at once). */
    reconnectWindowMs: number;
  };
  recording: {
    /** The SFU composite is rendered in pieces this long while the session runs (less is left at the end, more ffmpeg runs). */
    compositeChunkMs: number;
    /** Browser recordings this worker runs at once (each is a Chromium + ffmpeg); more wait in `starting`. */
    beamMax: number;
    /** Live streams one worker runs at once. */
    hlsMax: number;
    /** Cores a live stream's ladder may use (the ladder is cut to fit), and x264's preset. */
    hlsCores: number;
    hlsPreset: Preset;
    /** Who draws the built-in layouts of browser recordings and live streams (a meeting_url is always a browser). */
    renderer: Renderer;
  };
  http: {
    /** Whole request (headers and body) must arrive within this. */
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    keepAliveTimeoutMs: number;
    /** Open connections one client address may hold at once. */
    maxConnectionsPerAddress: number;
    /** Proxies (addresses or CIDR ranges) whose X-Forwarded-For names the client. */
    trustedProxies: string[];
  };
  /** HTTPS served here: PEM file paths (absolute), or null for plain HTTP (e.g. behind a TLS-terminating proxy). */
  tls: { certFile: string; keyFile: string } | null;
  /** Origins allowed to call the client-SDK endpoints from a browser (`*`: any). */
  cors: { origins: "*" | string[] };
  /** Outbound target policy (webhooks, storage endpoints, meeting_url): CIDR lists that change the default. */
  outbound: { deny: string[]; allow: string[] };
  /** Per-peer signalling limits: chat size and rate (token bucket), over-limit messages before removal. */
  peerLimits: { chatMaxBytes: number; chatPerSecond: number; chatBurst: number; floodStrikes: number };
  /**
   * Scale-out (TAPEDECK_CLUSTER=on): this node's id, the URL other nodes reach it at (null: worked
   * out once the port is known), and how often it says it is alive / after how long it is dead.
   */
  cluster: {
    enabled: boolean;
    nodeId: string | null;
    nodeUrl: string | null;
    heartbeatMs: number;
    deadAfterMs: number;
    /** Share of its machine's CPU above which a node is not given new rooms (Infinity: no limit). */
    cpuLimit: number;
  };
  /** The internal bucket on an S3-protocol store (TAPEDECK_BUCKET); null keeps it in `<data dir>/bucket`. */
  bucket: UploadConfig | null;
  logLevel: string;
}

export interface WebhookDeliveryConfig {
  timeoutMs: number;
  /** Delay before retry n (the last one repeats) until `retryForMs` after the event was created. */
  backoffMs: number[];
  retryForMs: number;
  /** How often the dispatcher looks for due deliveries when nothing woke it. */
  pollMs: number;
}

/** 100ms retries at +1 s, +3 s, +10 s; tapedeck keeps going, doubling up to an hour, for a day and more. */
export const DEFAULT_BACKOFF_MS = [1_000, 3_000, 10_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_200_000, 2_400_000, 3_600_000];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const key = String(i.path[0] ?? "");
        return `${key}=${JSON.stringify(env[key] ?? "")}: ${i.message}`;
      }),
    );
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.TAPEDECK_DATA_DIR);
  const tls =
    e.TAPEDECK_TLS_CERT && e.TAPEDECK_TLS_KEY
      ? { certFile: path.resolve(e.TAPEDECK_TLS_CERT), keyFile: path.resolve(e.TAPEDECK_TLS_KEY) }
      : null;
  const config: Config = {
    port: e.PORT,
    host: e.HOST,
    dataDir,
    publicUrl: (e.TAPEDECK_PUBLIC_URL ?? `${tls ? "https" : "http"}://localhost:${e.PORT}`).replace(/\/+$/, ""),
    databaseUrl: e.DATABASE_URL ?? `sqlite:${path.join(dataDir, "tapedeck.db")}`,
    roles: new Set(e.TAPEDECK_ROLES),
    retentionMs: e.TAPEDECK_RETENTION_DAYS * 86_400_000,
    sweepIntervalMs: e.TAPEDECK_SWEEP_INTERVAL_SECONDS * 1000,
    presignSeconds: e.TAPEDECK_PRESIGN_SECONDS,
    webhooks: {
      timeoutMs: e.TAPEDECK_WEBHOOK_TIMEOUT_MS,
      backoffMs: DEFAULT_BACKOFF_MS,
      retryForMs: e.TAPEDECK_WEBHOOK_RETRY_HOURS * 3_600_000,
      pollMs: 1_000,
    },
    sfu: {
      remb: e.TAPEDECK_SFU_REMB === "on",
      processes: e.TAPEDECK_SFU_PROCESSES ?? os.cpus().length,
      cpuLimit: e.TAPEDECK_SFU_CPU_LIMIT,
      reconnectWindowMs: e.TAPEDECK_RECONNECT_WINDOW_SECONDS * 1000,
    },
    recording: {
      compositeChunkMs: e.TAPEDECK_COMPOSITE_CHUNK_SECONDS * 1000,
      beamMax: e.TAPEDECK_BEAM_MAX ?? Math.max(1, os.cpus().length),
      hlsMax: e.TAPEDECK_HLS_MAX ?? Math.max(1, Math.floor(os.cpus().length / 2)),
      hlsCores: e.TAPEDECK_HLS_CORES ?? os.cpus().length,
      hlsPreset: e.TAPEDECK_HLS_PRESET,
      renderer: e.TAPEDECK_RECORDING_RENDERER,
    },
    http: {
      requestTimeoutMs: e.TAPEDECK_HTTP_REQUEST_TIMEOUT_SECONDS * 1000,
      headersTimeoutMs: e.TAPEDECK_HTTP_HEADERS_TIMEOUT_SECONDS * 1000,
      keepAliveTimeoutMs: e.TAPEDECK_HTTP_KEEPALIVE_SECONDS * 1000,
      maxConnectionsPerAddress: e.TAPEDECK_HTTP_MAX_CONNECTIONS_PER_ADDRESS,
      trustedProxies: e.TAPEDECK_TRUSTED_PROXIES,
    },
    tls,
    cors: { origins: e.TAPEDECK_CORS_ORIGINS },
    outbound: { deny: e.TAPEDECK_OUTBOUND_DENY, allow: e.TAPEDECK_OUTBOUND_ALLOW },
    peerLimits: {
      chatMaxBytes: e.TAPEDECK_CHAT_MAX_BYTES,
      chatPerSecond: e.TAPEDECK_CHAT_PER_SECOND,
      chatBurst: e.TAPEDECK_CHAT_BURST,
      floodStrikes: e.TAPEDECK_FLOOD_STRIKES,
    },
    cluster: {
      enabled: e.TAPEDECK_CLUSTER === "on",
      nodeId: e.TAPEDECK_NODE_ID ?? null,
      nodeUrl: e.TAPEDECK_NODE_URL?.replace(/\/+$/, "") ?? null,
      heartbeatMs: e.TAPEDECK_HEARTBEAT_SECONDS * 1000,
      deadAfterMs: e.TAPEDECK_NODE_DEAD_SECONDS * 1000,
      cpuLimit: e.TAPEDECK_NODE_CPU_LIMIT,
    },
    bucket: internalBucket(e),
    logLevel: e.LOG_LEVEL,
  };
  return { ...config, ...overrides };
}

/** TAPEDECK_BUCKET and its settings as the destination the internal bucket is written to, or null. */
function internalBucket(e: z.infer<typeof envFields>): UploadConfig | null {
  if (!e.TAPEDECK_BUCKET) return null;
  const m = /^(s3|gs|oss):\/\/([^/]+)(?:\/(.*))?$/.exec(e.TAPEDECK_BUCKET);
  if (!m) return null; // the schema's regex already refused it
  return {
    type: m[1] as UploadConfig["type"],
    location: m[2],
    prefix: (m[3] ?? "").replace(/^\/+|\/+$/g, ""),
    options: {
      ...(e.TAPEDECK_BUCKET_REGION ? { region: e.TAPEDECK_BUCKET_REGION } : {}),
      ...(e.TAPEDECK_BUCKET_ENDPOINT ? { endpoint: e.TAPEDECK_BUCKET_ENDPOINT } : {}),
    },
    ...(e.TAPEDECK_BUCKET_ACCESS_KEY && e.TAPEDECK_BUCKET_SECRET_KEY
      ? { credentials: { key: e.TAPEDECK_BUCKET_ACCESS_KEY, secret: e.TAPEDECK_BUCKET_SECRET_KEY } }
      : {}),
  };
}
