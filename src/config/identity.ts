import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { isMainThread } from "node:worker_threads";
import { newObjectId } from "../ids.ts";
import { tightenMode, type ModeChange } from "../util/file-mode.ts";

// The app's identity and keys: generated on first start, kept in `<data>/identity.json` (mode 0600).
// The access key and app secret may instead come from TAPEDECK_ACCESS_KEY / TAPEDECK_APP_SECRET.

export interface AppIdentity {
  appId: string;
  customerId: string;
  accessKey: string;
  appSecret: string;
  /** AES-256-GCM key (base64) for secrets stored in the database (storage credentials). */
  encryptionKey: string;
  /** Signs webhook deliveries (`X-Tapedeck-Signature`). */
  webhookSecret: string;
  /** Signs download links of the internal bucket. */
  urlSigningKey: string;
}

export interface LoadedIdentity {
  identity: AppIdentity;
  /** True when the credentials were made just now and should be shown once. */
  generatedCredentials: boolean;
  /** Paths in the data dir whose permissions were looser than tapedeck's and were tightened (to log). */
  tightened: ModeChange[];
}

const FILE = "identity.json";

/**
 * The data dir holds the app secret, the database (sealed storage secrets) and the recordings: only
 * tapedeck's own user may read it. It is made 0700 (an existing one is tightened), and the process
 * umask becomes 077, so every file tapedeck, SQLite, ffmpeg and Chromium create from then on is 0600
 * and every directory 0700, wherever tapedeck writes it (spool, bucket, beam, hls).
 */
export function secureDataDir(dataDir: string): ModeChange[] {
  if (isMainThread) process.umask(0o077);
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const changes: ModeChange[] = [];
  const dirChange = tightenMode(dataDir, 0o700);
  if (dirChange) changes.push(dirChange);
  return changes;
}

export function loadIdentity(dataDir: string, env: NodeJS.ProcessEnv = process.env): LoadedIdentity {
  const tightened = secureDataDir(dataDir);
  const file = path.join(dataDir, FILE);
  const fileChange = tightenMode(file, 0o600);
  if (fileChange) tightened.push(fileChange);
  let stored: Partial<AppIdentity> = {};
  if (fs.existsSync(file)) {
    try {
      stored = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<AppIdentity>;
    } catch (err) {
      throw new Error(`${file} is not valid JSON; fix or remove it (removing it makes new app credentials)`, { cause: err });
    }
  }
  const envKey = env.TAPEDECK_ACCESS_KEY?.trim();
  const envSecret = env.TAPEDECK_APP_SECRET?.trim();
  if (Boolean(envKey) !== Boolean(envSecret)) {
    throw new Error("set both TAPEDECK_ACCESS_KEY and TAPEDECK_APP_SECRET, or neither");
  }
  if (envSecret !== undefined && envSecret.length < 16) {
    throw new Error("TAPEDECK_APP_SECRET must be at least 16 characters");
  }
  const generatedCredentials = !envKey && !stored.accessKey;
  const identity: AppIdentity = {
    appId: stored.appId ?? newObjectId(),
    customerId: stored.customerId ?? newObjectId(),
    accessKey: envKey || stored.accessKey || newObjectId(),
    appSecret: envSecret || stored.appSecret || randomBytes(32).toString("base64url"),
    encryptionKey: stored.encryptionKey ?? randomBytes(32).toString("base64"),
    webhookSecret: stored.webhookSecret ?? `whsec_${randomBytes(24).toString("base64url")}`,
    urlSigningKey: stored.urlSigningKey ?? randomBytes(32).toString("base64url"),
  };
  // Credentials from the environment are not written to disk (stored ones, if any, stay as they were).
  const toStore: Partial<AppIdentity> = { ...identity, accessKey: stored.accessKey, appSecret: stored.appSecret };
  if (!envKey) Object.assign(toStore, { accessKey: identity.accessKey, appSecret: identity.appSecret });
  const serialized = JSON.stringify(toStore, null, 2);
  if (!fs.existsSync(file) || fs.readFileSync(file, "utf8") !== serialized) {
    fs.writeFileSync(file, serialized, { mode: 0o600 });
  }
  return { identity, generatedCredentials, tightened };
}
