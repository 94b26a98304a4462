import type { Config } from "./config/config.ts";
import type { AppIdentity } from "./config/identity.ts";
import type { SecretBox } from "./crypto/secret-box.ts";
import type { Db, DialectName } from "./db/database.ts";
import type { Logger } from "./log.ts";
import type { StorageService } from "./storage/storage.service.ts";
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
  /** Wakes this process's browser-recording worker (set in main.ts when it runs one; others poll). */
  kickBeams?: () => void;
}
