import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { type ConfigError, loadConfig } from "../../src/config/config.ts";
import { loadIdentity } from "../../src/config/identity.ts";
import { toPage } from "../../src/api/pagination.ts";
import { newObjectId } from "../../src/ids.ts";

test("defaults: port 8080, ./data, SQLite in the data dir, 15-day retention, all roles", () => {
  const c = loadConfig({});
  assert.equal(c.port, 8080);
  assert.equal(c.dataDir, path.resolve("./data"));
  assert.equal(c.databaseUrl, `sqlite:${path.resolve("./data/tapedeck.db")}`);
  assert.equal(c.retentionMs, 15 * 86_400_000);
  assert.deepEqual([...c.roles].sort(), ["api", "sfu", "worker"]);
  assert.ok(c.webhooks.retryForMs >= 24 * 3_600_000);
});

test("bad settings stop the boot with KEY=value reasons", () => {
  assert.throws(
    () => loadConfig({ PORT: "eighty", TAPEDECK_ROLES: "api,cook", DATABASE_URL: "mysql://x" }),
    (e: ConfigError) => {
      const text = e.problems.join("\n");
      return /PORT="eighty"/.test(text) && /TAPEDECK_ROLES="api,cook"/.test(text) && /DATABASE_URL="mysql:\/\/x"/.test(text);
    },
  );
});

test("credentials are generated once, kept, or taken from the environment without being written", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-id-"));
  try {
    const first = loadIdentity(dir, {});
    assert.equal(first.generatedCredentials, true);
    const again = loadIdentity(dir, {});
    assert.equal(again.generatedCredentials, false);
    assert.equal(again.identity.appSecret, first.identity.appSecret);
    assert.equal(fs.statSync(path.join(dir, "identity.json")).mode & 0o777, 0o600);
    const fromEnv = loadIdentity(dir, { TAPEDECK_ACCESS_KEY: "envkey", TAPEDECK_APP_SECRET: "an-env-secret-of-length" });
    assert.equal(fromEnv.identity.accessKey, "envkey");
    assert.equal(fromEnv.generatedCredentials, false);
    assert.ok(!fs.readFileSync(path.join(dir, "identity.json"), "utf8").includes("an-env-secret-of-length"));
    assert.equal(fromEnv.identity.customerId, first.identity.customerId);
    assert.throws(() => loadIdentity(dir, { TAPEDECK_ACCESS_KEY: "only-key" }), /both/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("object ids are 24 hex and sort by creation", () => {
  const ids = Array.from({ length: 1000 }, () => newObjectId());
  assert.ok(ids.every((id) => /^[0-9a-f]{24}$/.test(id)));
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(new Set(ids).size, ids.length);
});

test("a page's last is empty on the final page", () => {
  const rows = [{ id: "a" }, { id: "b" }, { id: "c" }];
  assert.deepEqual(
    toPage(rows, 2, (r) => r.id),
    { limit: 2, data: ["a", "b"], last: "b" },
  );
  assert.deepEqual(
    toPage(rows.slice(0, 2), 2, (r) => r.id),
    { limit: 2, data: ["a", "b"], last: "" },
  );
});

test("starting once with credentials from the environment does not drop the stored ones", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-id-"));
  try {
    const first = loadIdentity(dir, {});
    loadIdentity(dir, { TAPEDECK_ACCESS_KEY: "envkey", TAPEDECK_APP_SECRET: "an-env-secret-of-length" });
    const later = loadIdentity(dir, {});
    assert.equal(later.identity.appSecret, first.identity.appSecret);
    assert.equal(later.generatedCredentials, false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the SFU's CPU limit: 0.85 of a core by default, a share up to 1, or off; anything else is refused", () => {
  assert.equal(loadConfig({}).sfu.cpuLimit, 0.85);
  assert.equal(loadConfig({ TAPEDECK_SFU_CPU_LIMIT: "0.5" }).sfu.cpuLimit, 0.5);
  assert.equal(loadConfig({ TAPEDECK_SFU_CPU_LIMIT: "off" }).sfu.cpuLimit, Number.POSITIVE_INFINITY);
  for (const bad of ["2", "0", "none"]) {
    assert.throws(
      () => loadConfig({ TAPEDECK_SFU_CPU_LIMIT: bad }),
      (e: ConfigError) => e.problems.some((p) => p.includes(`TAPEDECK_SFU_CPU_LIMIT="${bad}"`)),
      bad,
    );
  }
});

test("TLS: certificate and key set together (https public URL by default); CORS origins: * or http(s) origins without a path", () => {
  const plain = loadConfig({});
  assert.equal(plain.tls, null);
  assert.equal(plain.publicUrl, "http://localhost:8080");
  assert.equal(plain.cors.origins, "*");

  const tls = loadConfig({ TAPEDECK_TLS_CERT: "certs/cert.pem", TAPEDECK_TLS_KEY: "/etc/tapedeck/key.pem" });
  assert.deepEqual(tls.tls, { certFile: path.resolve("certs/cert.pem"), keyFile: "/etc/tapedeck/key.pem" });
  assert.equal(tls.publicUrl, "https://localhost:8080");
  const named = { TAPEDECK_TLS_CERT: "c.pem", TAPEDECK_TLS_KEY: "k.pem", TAPEDECK_PUBLIC_URL: "https://rooms.example.com/" };
  assert.equal(loadConfig(named).publicUrl, "https://rooms.example.com");

  for (const [set, unset] of [
    ["TAPEDECK_TLS_CERT", "TAPEDECK_TLS_KEY"],
    ["TAPEDECK_TLS_KEY", "TAPEDECK_TLS_CERT"],
  ]) {
    assert.throws(
      () => loadConfig({ [set]: "file.pem" }),
      (e: ConfigError) => e.problems.some((p) => p.startsWith(`${unset}="": ${set} is set but ${unset} is not`)),
      set,
    );
  }

  const listed = loadConfig({ TAPEDECK_CORS_ORIGINS: "https://App.example.com/, http://localhost:3000" });
  assert.deepEqual(listed.cors.origins, ["https://app.example.com", "http://localhost:3000"]);
  for (const bad of [
    "https://app.example.com/path",
    "app.example.com",
    "ftp://files.example.com",
    "https://a.example.com?x=1",
    "*, https://a.example.com",
    ",",
  ]) {
    assert.throws(
      () => loadConfig({ TAPEDECK_CORS_ORIGINS: bad }),
      (e: ConfigError) => e.problems.some((p) => p.startsWith(`TAPEDECK_CORS_ORIGINS=${JSON.stringify(bad)}: `)),
      bad,
    );
  }
});

test("TAPEDECK_BUCKET: s3://, gs:// or oss:// bucket with an optional prefix, its endpoint, region and both keys or neither", () => {
  assert.equal(loadConfig({}).bucket, null);
  const s3 = loadConfig({
    TAPEDECK_BUCKET: "s3://tapedeck-recordings/cluster/one/",
    TAPEDECK_BUCKET_ENDPOINT: "http://minio.internal:9000",
    TAPEDECK_BUCKET_REGION: "eu-west-1",
    TAPEDECK_BUCKET_ACCESS_KEY: "AKIA1",
    TAPEDECK_BUCKET_SECRET_KEY: "secret1",
  });
  assert.deepEqual(s3.bucket, {
    type: "s3",
    location: "tapedeck-recordings",
    prefix: "cluster/one",
    options: { region: "eu-west-1", endpoint: "http://minio.internal:9000" },
    credentials: { key: "AKIA1", secret: "secret1" },
  });
  // No prefix, no keys: the bucket root and the SDK's default credentials (an instance role).
  assert.deepEqual(loadConfig({ TAPEDECK_BUCKET: "gs://media.example.com" }).bucket, {
    type: "gs",
    location: "media.example.com",
    prefix: "",
    options: {},
  });
  assert.equal(loadConfig({ TAPEDECK_BUCKET: "oss://rec-bucket/p", TAPEDECK_BUCKET_REGION: "cn-hangzhou" }).bucket?.type, "oss");

  for (const bad of ["tapedeck-recordings", "http://tapedeck-recordings", "s3://", "s3://Upper-Case", "azure://container/p", "s3://a"]) {
    assert.throws(
      () => loadConfig({ TAPEDECK_BUCKET: bad }),
      (e: ConfigError) => e.problems.some((p) => p.startsWith(`TAPEDECK_BUCKET=${JSON.stringify(bad)}: must be s3://bucket[/prefix]`)),
      bad,
    );
  }
  assert.throws(
    () => loadConfig({ TAPEDECK_BUCKET: "s3://b-1", TAPEDECK_BUCKET_ENDPOINT: "minio 9000" }),
    (e: ConfigError) => e.problems.some((p) => p.startsWith('TAPEDECK_BUCKET_ENDPOINT="minio 9000": ')),
  );
  for (const [set, unset] of [
    ["TAPEDECK_BUCKET_ACCESS_KEY", "TAPEDECK_BUCKET_SECRET_KEY"],
    ["TAPEDECK_BUCKET_SECRET_KEY", "TAPEDECK_BUCKET_ACCESS_KEY"],
  ]) {
    assert.throws(
      () => loadConfig({ TAPEDECK_BUCKET: "s3://b-1", [set]: "x" }),
      (e: ConfigError) =>
        e.problems.some((p) => p.startsWith(`${unset}="": TAPEDECK_BUCKET_ACCESS_KEY and TAPEDECK_BUCKET_SECRET_KEY go together`)),
      set,
    );
  }
});
