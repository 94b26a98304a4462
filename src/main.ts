import type { FastifyInstance } from "fastify";
import type { AppContext, AppEvents } from "./app-context.ts";
import { assetRoutes } from "./assets/asset.routes.ts";
import { buildServer } from "./api/server.ts";
import { loadTlsMaterial } from "./api/tls.ts";
import { ConfigError, loadConfig, type Config } from "./config/config.ts";
import { ClusterMembership, clusterSettingsProblem } from "./cluster/cluster.ts";
import { nodeRoutes } from "./cluster/node.routes.ts";
import { clusterRoutes } from "./cluster/cluster.routes.ts";
import { loadIdentity, type AppIdentity } from "./config/identity.ts";
import { SecretBox } from "./crypto/secret-box.ts";
import { openDatabase } from "./db/database.ts";
import { createLogger, type Logger } from "./log.ts";
import { recordingRoutes } from "./recorders/browser/recording.routes.ts";
import { activeRoomRoutes } from "./rooms/active-room.routes.ts";
import { roomRoutes } from "./rooms/room.routes.ts";
import { roomCodePublicRoutes, roomCodeRoutes } from "./rooms/room-code.routes.ts";
import { tokenRoutes } from "./rooms/token.routes.ts";
import { sessionRoutes } from "./sessions/session.routes.ts";
import { JobRunner } from "./jobs/job-queue.ts";
import { beamFinishHandler } from "./recorders/browser/beam-finish.job.ts";
import { hlsFinishHandler } from "./recorders/hls/hls-finish.job.ts";
import { liveStreamRoutes } from "./recorders/hls/live-stream.routes.ts";
import { playbackRoutes } from "./recorders/hls/playback.routes.ts";
import { dashboardRoutes } from "./web/dashboard.routes.ts";
import { beamRecorder } from "./recorders/browser/beam-recorder.ts";
import type { BeamDetails } from "./recorders/browser/beam.service.ts";
import { CaptureWorker } from "./recorders/browser/capture-worker.ts";
import { hlsRecorder } from "./recorders/hls/hls-recorder.ts";
import { externalStreamRoutes } from "./recorders/rtmp/external-stream.routes.ts";
import type { RtmpDetails } from "./recorders/rtmp/external-stream.service.ts";
import { rtmpFinishHandler } from "./recorders/rtmp/rtmp-finish.job.ts";
import { rtmpRecorder } from "./recorders/rtmp/rtmp-recorder.ts";
import { autoStartExternalStreamOnJoin } from "./recorders/rtmp/auto-start.ts";
import type { HlsDetails } from "./recorders/hls/live-stream.service.ts";
import { autoStartOnJoin } from "./recorders/browser/auto-start.ts";
import { uploadTrackHandler } from "./recorders/sfu/upload-track.job.ts";
import { processSessionHandler } from "./recorders/sfu/session-recording.job.ts";
import { compositeProgressHandler } from "./recorders/sfu/session-progress.job.ts";
import { composeSessionHandler } from "./recorders/compose/compose.job.ts";
import { composeRoutes } from "./recorders/compose/compose.routes.ts";
import { createSfu, type SfuService } from "./sfu/sfu-service.ts";
import { signallingRoutes } from "./sfu/signalling.routes.ts";
import { internalBucketRoutes } from "./storage/internal-bucket.routes.ts";
import { checkInternalBucket, StorageService } from "./storage/storage.service.ts";
import { storageRoutes } from "./storage/storage.routes.ts";
import { runBootChecks, type ToolCheck } from "./system/boot-checks.ts";
import { healthRoutes } from "./system/health.routes.ts";
import { defaultTemplate } from "./templates/template.service.ts";
import { templateRoutes } from "./templates/template.routes.ts";
import { WebhookDispatcher } from "./webhooks/dispatcher.ts";
import { outboundPolicy } from "./net/outbound-policy.ts";
import { WebhookOutbox } from "./webhooks/outbox.ts";
import { webRoutes } from "./web/web.routes.ts";
import { webhookRoutes } from "./webhooks/webhook.routes.ts";
import { analyticsRoutes } from "./analytics/analytics.routes.ts";
import { EventBus } from "./util/event-bus.ts";

// The composition root: builds every part once, in order, and closes them in reverse.

export interface Tapedeck {
  ctx: AppContext;
  server: FastifyInstance;
  /** The in-process `Sfu` or the `SfuShards` relay (tests narrow it to reach inside). */
  sfu: SfuService | null;
  jobs: JobRunner | null;
  /** Browser recordings: the capture worker with the beam recorder. */
  beams: CaptureWorker<BeamDetails> | null;
  /** Live streams (HLS): the capture worker with the hls recorder. */
  streams: CaptureWorker<HlsDetails> | null;
  /** External streams (RTMP out): the capture worker with the rtmp recorder. */
  externalStreams: CaptureWorker<RtmpDetails> | null;
  /** http://host:port (https:// with TAPEDECK_TLS_CERT) the server listens on. */
  url: string;
  generatedCredentials: boolean;
  tools: ToolCheck[];
  close(): Promise<void>;
}

export interface StartOptions {
  config?: Config;
  env?: NodeJS.ProcessEnv;
  log?: Logger;
  /** Skip the ffmpeg/Chromium probe (tests of the API alone). */
  skipBootChecks?: boolean;
  /**
   * In a cluster, what to do when the others declared this node dead and took its work over (default:
   * close and exit with status 75, for the service manager to start it again, clean).
   */
  onFenced?: (why: string) => void;
}

export async function startTapedeck(opts: StartOptions = {}): Promise<Tapedeck> {
  const env = opts.env ?? process.env;
  const config = opts.config ?? loadConfig(env);
  const log = opts.log ?? createLogger(config.logLevel);
  // Before anything opens: a certificate or key that cannot be used stops the boot naming the file.
  const tls = loadTlsMaterial(config.tls);
  if (tls) log.info({ cert: config.tls?.certFile, subject: tls.subject, validTo: tls.validTo }, "serving HTTPS");
  if (tls && config.publicUrl.startsWith("http://"))
    log.warn(
      { publicUrl: config.publicUrl },
      "TAPEDECK_PUBLIC_URL is http:// but tapedeck serves only HTTPS on its port: links and join URLs it makes may not work",
    );
  if (config.cluster.enabled) {
    const problem = clusterSettingsProblem(config);
    if (problem) throw new ConfigError([problem]);
  }
  const { identity, generatedCredentials, tightened } = loadIdentity(config.dataDir, env);
  const { db, dialect, close: closeDb, tightened: dbTightened } = await openDatabase(config.databaseUrl);
  for (const c of [...tightened, ...dbTightened])
    log.warn(c, c.error ? "could not make a data file private" : "made a data file private (it was readable by others)");
  log.info({ dialect, dataDir: config.dataDir, roles: [...config.roles] }, "database ready");

  const box = new SecretBox(identity.encryptionKey);
  let storage: StorageService;
  try {
    storage = new StorageService({ config, identity, box, log: log.child({ component: "storage" }) });
    // With TAPEDECK_BUCKET: the bucket must take a write, read, list and delete before this node serves.
    await checkInternalBucket(storage, log).catch(async (err: unknown) => {
      await storage.stop();
      throw err;
    });
  } catch (err) {
    await closeDb();
    throw err;
  }
  const outbox = new WebhookOutbox({ identity, box });
  const dispatcher = new WebhookDispatcher({
    db,
    identity,
    box,
    config: config.webhooks,
    log: log.child({ component: "webhooks" }),
    outbound: outboundPolicy(config.outbound),
  });
  outbox.onEnqueued(() => dispatcher.kick());
  const events = new EventBus<AppEvents>((err, event) => log.error({ err, event }, "an event listener failed"));
  const ctx: AppContext = { config, identity, db, dialect, log, box, storage, outbox, dispatcher, events };
  // A cluster node: its id (the capture workers and the SFU's peers are known by it), placement, heartbeat.
  let fenced: (why: string) => void = () => {};
  const cluster = config.cluster.enabled ? new ClusterMembership(ctx, { onFenced: (why) => fenced(why) }) : null;
  ctx.cluster = cluster;

  let tools: ToolCheck[] = [];
  if (!opts.skipBootChecks) {
    tools = await runBootChecks(env);
    for (const t of tools) {
      if (t.ok) log.info({ tool: t.name, version: t.version, path: t.path }, "media tool found");
      else log.error({ tool: t.name, problem: t.problem, fix: t.fix }, "media tool missing: recordings will fail until it is installed");
    }
  }

  await defaultTemplate(ctx);
  // The worker: persisted jobs (recording uploads and post-processing); refuses to start if it cannot run a
  // queued job. In a cluster every node runs one: a node without the worker role runs only the jobs pinned
  // to it (they read its spool), a worker also unpinned ones and those of dead nodes.
  const jobs =
    config.roles.has("worker") || cluster
      ? new JobRunner({
          db,
          dialect,
          node: cluster ? { id: cluster.id, claims: config.roles.has("worker") ? "all" : "own" } : null,
          log: log.child({ component: "jobs" }),
          handlers: {
            "upload-track": uploadTrackHandler(ctx),
            "process-session": processSessionHandler(ctx),
            "composite-progress": compositeProgressHandler(ctx),
            "beam-finish": beamFinishHandler(ctx),
            "hls-finish": hlsFinishHandler(ctx),
            "rtmp-finish": rtmpFinishHandler(ctx),
            "compose-session": composeSessionHandler(ctx),
          },
        })
      : null;
  if (jobs) events.on("jobs.queued", () => jobs.kick());
  // Browser recordings and live streams: Chromium + ffmpeg per recording, on the worker, one capture
  // worker per kind with that kind's Recorder (each wakes on "recording.requested" of its kind).
  const beams = config.roles.has("worker") ? new CaptureWorker(ctx, beamRecorder(ctx)) : null;
  const streams = config.roles.has("worker") ? new CaptureWorker(ctx, hlsRecorder(ctx)) : null;
  const externalStreams = config.roles.has("worker") ? new CaptureWorker(ctx, rtmpRecorder(ctx)) : null;
  // The SFU: shard processes (one per core by default), or inside this process when processes = 0. In a
  // cluster every node takes signalling and routes each room to its SFU node (this one or another).
  const localSfu = config.roles.has("sfu") ? createSfu(ctx) : null;
  const sfu = cluster ? cluster.sfu(localSfu) : localSfu;
  // A template's browserComposite.autoStart and rtmpDestinations autoStart, on the SFU's "peer.joined" (shard processes register their own).
  if (localSfu) autoStartOnJoin(ctx);
  if (localSfu) autoStartExternalStreamOnJoin(ctx);
  await sfu?.start();
  // What this process serves over HTTP, by role: /health always; with `api` the public API (/v2, which
  // buildServer mounts only then), signed internal-bucket downloads, the pages and HLS playback; with
  // `sfu` the signalling WebSocket. A worker-only process answers /health and 404 to the rest.
  const api = config.roles.has("api");
  const server = await buildServer(ctx, {
    v2: [
      roomRoutes(sfu),
      activeRoomRoutes(sfu),
      tokenRoutes,
      roomCodeRoutes,
      templateRoutes,
      sessionRoutes,
      composeRoutes,
      recordingRoutes,
      liveStreamRoutes,
      externalStreamRoutes,
      assetRoutes,
      storageRoutes,
      webhookRoutes,
      analyticsRoutes,
      nodeRoutes,
    ],
    public: [
      healthRoutes(() => tools),
      ...(api ? [internalBucketRoutes, webRoutes, roomCodePublicRoutes, dashboardRoutes, playbackRoutes(ctx)] : []),
      // A worker node of a cluster serves the live streams it encodes to the other nodes (playback-proxy.ts).
      ...(!api && cluster && config.roles.has("worker") ? [playbackRoutes(ctx)] : []),
      // In a cluster, the other nodes relay their peers' signalling and room calls here (cluster.routes.ts).
      ...(sfu ? [signallingRoutes(sfu, cluster ? (scope) => clusterRoutes(scope, ctx, localSfu) : undefined)] : []),
    ],
    tls,
  });

  try {
    await server.listen({ port: config.port, host: config.host });
  } catch (err) {
    await closeDb();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") throw new Error(`port ${config.port} is already in use: stop the other process or set PORT`, { cause: err });
    throw err;
  }
  const address = server.server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  const url = `${tls ? "https" : "http"}://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${port}`;
  // With PORT=0 the real port is only known now; links the server makes must carry it.
  if (config.port === 0 && !env.TAPEDECK_PUBLIC_URL) config.publicUrl = url;
  await cluster?.join(url, port);
  dispatcher.start();
  // Retention runs once per cluster: on the node holding the sweeper lease.
  storage.start(cluster ? { shouldSweep: () => cluster.holds("sweeper", config.sweepIntervalMs * 2) } : {});
  await jobs?.start();
  await beams?.start();
  await streams?.start();
  await externalStreams?.start();
  log.info({ url, dashboard: `${url}/dashboard` }, "tapedeck listening");

  let closed = false;
  const tapedeck: Tapedeck = {
    ctx,
    server,
    sfu,
    jobs,
    beams,
    streams,
    externalStreams,
    url,
    generatedCredentials,
    tools,
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([beams?.stop(), streams?.stop(), externalStreams?.stop()]);
      await sfu?.stop();
      await server.close();
      await jobs?.stop();
      await dispatcher.stop();
      await storage.stop();
      await cluster?.stop();
      await closeDb();
      log.info("tapedeck stopped");
    },
  };
  fenced =
    opts.onFenced ??
    ((why) => {
      log.fatal({ why }, "this node was declared dead by the cluster; stopping so it can start again clean");
      void tapedeck.close().finally(() => process.exit(75));
    });
  return tapedeck;
}

export function describeCredentials(identity: AppIdentity): string {
  return [
    "",
    "  tapedeck app credentials (shown once; also in <data dir>/identity.json):",
    `    access key : ${identity.accessKey}`,
    `    app secret : ${identity.appSecret}`,
    "  Sign in to the dashboard (/dashboard) with them, or mint a management token:  npm run tapedeck -- token management",
    "",
  ].join("\n");
}
