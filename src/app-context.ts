import type { Config } from "./config/config.ts";
import type { AppIdentity } from "./config/identity.ts";
import type { SecretBox } from "./crypto/secret-box.ts";
import type { Db, DialectName } from "./db/database.ts";
import type { RoomRow, TemplateRow } from "./db/schema.ts";
import type { Logger } from "./log.ts";
import type { StorageService } from "./storage/storage.service.ts";
import type { EventBus } from "./util/event-bus.ts";
import type { WebhookDispatcher } from "./webhooks/dispatcher.ts";
import type { WebhookOutbox } from "./webhooks/outbox.ts";

/** Everything a route or service may need, built once in main.ts (the composition root). */
export interface AppContext {
  config: Config;
  identity: AppIdentity;
  db: Db;
  dialect: DialectName;
  log: Logger;
  box: SecretBox;
  storage: StorageService;
  outbox: WebhookOutbox;
  dispatcher: WebhookDispatcher;
  /** News between parts of this process (who emits and who listens: AppEvents). */
  events: EventBus<AppEvents>;
  /** This node in its cluster (TAPEDECK_CLUSTER=on); absent on a single machine. */
  cluster?: ClusterNode | null;
}

/** What the rest of tapedeck asks of this node's place in the cluster. */
export interface ClusterNode {
  readonly id: string;
  /** False while the node drains: it takes no new rooms or recordings, and finishes the running ones (read now). */
  takesNewWork(): Promise<boolean>;
  /** Nodes declared dead: their recordings and pinned jobs are anyone's to take over. */
  deadNodes(): Promise<string[]>;
}

/**
 * What the bus carries. Listeners only wake a worker early: every worker also polls the database, so a
 * process that runs no worker (or a lost event) delays work by at most a poll, never loses it.
 */
export type AppEvents = {
  /** A persisted job was queued (SFU track uploads, recording finishes): the job runner wakes. */
  "jobs.queued": void;
  /** A browser recording or live stream row was created or asked to stop, pause or resume: its worker wakes. */
  "recording.requested": { kind: "beam" | "hls" | "rtmp" };
  /**
   * A peer joined a room of the SFU running in this process (in a shard process, that shard's bus): the
   * browser recorder's auto-start listens (recorders/browser/auto-start.ts). `hidden`: tapedeck's own recorder.
   */
  "peer.joined": { room: RoomRow; template: TemplateRow; peerId: string; hidden: boolean };
};
