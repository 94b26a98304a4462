import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { newObjectId } from "../ids.ts";

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
}

const FILE = "identity.json";

export function loadIdentity(dataDir: string, env: NodeJS.ProcessEnv = process.env): LoadedIdentity {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, FILE);
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
  return { identity, generatedCredentials };
}
