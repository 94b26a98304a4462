import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../../src/app-context.ts";
import { buildServer } from "../../src/api/server.ts";
import { mintManagementToken } from "../../src/auth/tokens.ts";
import { loadConfig } from "../../src/config/config.ts";
import { loadIdentity } from "../../src/config/identity.ts";
import { SecretBox } from "../../src/crypto/secret-box.ts";
import type { UploadConfig } from "../../src/domain/upload-config.ts";
import { createLogger } from "../../src/log.ts";
import { S3Storage } from "../../src/storage/s3.storage.ts";
import { runStorageValidateCli } from "../../src/storage/storage.cli.ts";
import { storageRoutes } from "../../src/storage/storage.routes.ts";
import { StorageService } from "../../src/storage/storage.service.ts";
import { VALIDATED_MESSAGE } from "../../src/storage/validate.ts";
import { s3ErrorXml, startS3rver, type TestS3 } from "../support/s3rver.ts";

// Destination validation against a real S3-protocol server, through the service, the API and the CLI.

let s3: TestS3;
let dataDir: string;
let service: StorageService;
let customerId: string;

before(async () => {
  s3 = await startS3rver();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-validate-"));
  const config = loadConfig({ TAPEDECK_DATA_DIR: dataDir });
  const { identity } = loadIdentity(dataDir, {});
  customerId = identity.customerId;
  service = new StorageService({ config, identity, box: new SecretBox(identity.encryptionKey), log: createLogger("silent") });
});
after(async () => {
  await service.stop();
  await s3.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const dest = (over: Partial<UploadConfig> = {}, endpoint = s3.endpoint): UploadConfig => ({
  type: "s3",
  location: s3.bucket,
  prefix: "recordings",
  options: { endpoint },
  credentials: { key: s3.accessKey, secret: s3.secret },
  ...over,
});

/** A proxy in front of the S3 server that refuses one kind of object request the way S3 does. */
async function startDenyingProxy(denied: "GET" | "DELETE"): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const target = new URL(s3.endpoint);
  const server = http.createServer((req, res) => {
    const isObject = /^\/[^/]+\/.+/.test((req.url ?? "").split("?")[0]);
    if (req.method === denied && isObject) {
      req.resume();
      res.writeHead(403, { "content-type": "application/xml" });
      res.end(s3ErrorXml("AccessDenied", "Access Denied"));
      return;
    }
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Probe objects left in the bucket under `recordings/`, listed through the S3 API. */
async function probeKeys(): Promise<string[]> {
  const reader = new S3Storage(dest());
  try {
    const res = await reader.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: "recordings/.tapedeck-probe-" }));
    return (res.Contents ?? []).map((o) => o.Key ?? "");
  } finally {
    reader.destroy();
  }
}

test("good credentials validate: upload, download and delete all pass, nothing is left behind", async () => {
  const before = s3.requests.length;
  const report = await service.validate(dest());
  assert.equal(report.valid, true);
  assert.equal(report.message, VALIDATED_MESSAGE);
  assert.deepEqual(
    report.checks.map((c) => [c.step, c.ok]),
    [
      ["upload", true],
      ["download", true],
      ["delete", true],
    ],
  );
  const probePuts = s3.requests.slice(before).filter((r) => r.method === "PUT");
  assert.equal(probePuts.length, 1);
  assert.match(probePuts[0].path, new RegExp(`^/${s3.bucket}/recordings/\\.tapedeck-probe-[0-9a-f-]{36}$`));
  assert.deepEqual(await probeKeys(), []);
});

test("with no prefix, the probe goes under the customer id, where recordings go", async () => {
  const before = s3.requests.length;
  const report = await service.validate(dest({ prefix: "" }));
  assert.equal(report.valid, true);
  assert.match(
    s3.requests.slice(before).find((r) => r.method === "PUT")!.path,
    new RegExp(`^/${s3.bucket}/${customerId}/\\.tapedeck-probe-`),
  );
});

test("a wrong secret is reported as such, without the secret", async () => {
  const report = await service.validate(dest({ credentials: { key: s3.accessKey, secret: "Wrong-Secret-Value-42" } }));
  assert.equal(report.valid, false);
  assert.deepEqual(
    report.checks.map((c) => [c.step, c.ok]),
    [["upload", false]],
  );
  assert.match(
    report.message,
    /^The access key or secret is wrong: the secret does not match access key "S3RVER" \(SignatureDoesNotMatch\)\. Check the secret/,
  );
  assert.ok(!JSON.stringify(report).includes("Wrong-Secret-Value-42"));
});

test("an unknown access key is reported as such", async () => {
  const report = await service.validate(dest({ credentials: { key: "AKIANOBODY", secret: s3.secret } }));
  assert.equal(report.valid, false);
  assert.match(report.message, /does not know access key "AKIANOBODY" \(InvalidAccessKeyId\)\. Check credentials\.key\./);
});

test("a missing bucket is reported with its name", async () => {
  const report = await service.validate(dest({ location: "no-such-bucket" }));
  assert.equal(report.valid, false);
  assert.match(report.message, /^Bucket "no-such-bucket" does not exist at http:\/\/127\.0\.0\.1:\d+ \(NoSuchBucket\)/);
});

test("an unreachable endpoint is reported as such", async () => {
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const report = await service.validate(dest({}, `http://127.0.0.1:${port}`));
  assert.equal(report.valid, false);
  assert.match(report.message, new RegExp(`^Cannot reach endpoint http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
});

test("a key that can upload but not download: upload ok, download failed, SFU wording", async () => {
  const proxy = await startDenyingProxy("GET");
  try {
    const report = await service.validate(dest({}, proxy.endpoint));
    assert.equal(report.valid, false);
    assert.deepEqual(
      report.checks.map((c) => [c.step, c.ok]),
      [
        ["upload", true],
        ["download", false],
        ["delete", true],
      ],
    );
    assert.equal(
      report.message,
      "The key can upload but not download (AccessDenied on GetObject). SFU recording needs download permission too (s3:GetObject); browser recording only needs upload.",
    );
    assert.equal(report.checks[1].message, report.message);
    assert.deepEqual(await probeKeys(), []);
  } finally {
    await proxy.stop();
  }
});

test("a key that cannot delete still validates, with a note about the probe left behind", async () => {
  const proxy = await startDenyingProxy("DELETE");
  try {
    const report = await service.validate(dest({}, proxy.endpoint));
    assert.equal(report.valid, true);
    assert.deepEqual(
      report.checks.map((c) => [c.step, c.ok]),
      [
        ["upload", true],
        ["download", true],
        ["delete", false],
      ],
    );
    assert.ok(report.message.startsWith(`${VALIDATED_MESSAGE}. Note: The key can upload and download but not delete`), report.message);
    assert.equal((await probeKeys()).length, 1);
  } finally {
    await proxy.stop();
    const cleaner = new S3Storage(dest());
    for (const k of await probeKeys()) await cleaner.delete(k);
    cleaner.destroy();
  }
});

test("POST /v2/storage/validate answers 200 with the report, 400 for a malformed body", async () => {
  const { identity } = loadIdentity(dataDir, {});
  const ctx = {
    config: loadConfig({ TAPEDECK_DATA_DIR: dataDir }),
    identity,
    log: createLogger("silent"),
    storage: service,
  } as unknown as AppContext;
  const app: FastifyInstance = await buildServer(ctx, { v2: [storageRoutes], public: [] });
  try {
    const token = await mintManagementToken(identity);
    const call = (body: unknown) =>
      app.inject({ method: "POST", url: "/v2/storage/validate", headers: { authorization: `Bearer ${token}` }, payload: body as object });
    const body = {
      type: "s3",
      location: s3.bucket,
      prefix: "recordings",
      options: { endpoint: s3.endpoint },
      credentials: { key: s3.accessKey, secretKey: s3.secret },
    };
    const ok = await call(body);
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.json().valid, true);
    assert.equal(ok.json().message, VALIDATED_MESSAGE);
    assert.equal(ok.json().checks.length, 3);

    const wrong = await call({ ...body, credentials: { key: s3.accessKey, secretKey: "Bad-Secret-999" } });
    assert.equal(wrong.statusCode, 200);
    assert.equal(wrong.json().valid, false);
    assert.ok(!wrong.body.includes("Bad-Secret-999"));

    const malformed = await call({ type: "azure", location: "" });
    assert.equal(malformed.statusCode, 400);
    assert.equal(malformed.json().code, 400);
    assert.match(malformed.json().message, /^Invalid body param: /);

    const ossWithoutRegion = await call({ type: "oss", location: "bucket-x", credentials: { key: "k", secretKey: "s" } });
    assert.equal(ossWithoutRegion.statusCode, 400);
    assert.match(ossWithoutRegion.json().message, /options\.region is required for oss/);

    const anonymous = await app.inject({ method: "POST", url: "/v2/storage/validate", payload: body });
    assert.equal(anonymous.statusCode, 401);
  } finally {
    await app.close();
  }
});

test("tapedeck storage validate: exit 0 when valid, 1 when not, 2 for usage errors", async () => {
  const run = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runStorageValidateCli(args, { env, out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out, err };
  };
  const base = ["--type", "s3", "--bucket", s3.bucket, "--endpoint", s3.endpoint, "--prefix", "cli", "--key", s3.accessKey];

  const ok = await run(base, { TAPEDECK_STORAGE_SECRET: s3.secret });
  assert.equal(ok.code, 0, ok.err.join("\n"));
  assert.match(ok.out[0], new RegExp(`^checking s3://${s3.bucket}/cli`));
  assert.deepEqual(
    ok.out.slice(1, 4).map((l) => l.split(/\s+/).slice(0, 2).join(" ")),
    ["ok upload", "ok download", "ok delete"],
  );
  assert.equal(ok.out.at(-1), VALIDATED_MESSAGE);

  const bad = await run([...base, "--secret", "nope-nope-nope"]);
  assert.equal(bad.code, 1);
  assert.match(bad.out.find((l) => l.startsWith("FAILED"))!, /^FAILED upload +The access key or secret is wrong/);
  assert.match(bad.err.at(-1)!, /SignatureDoesNotMatch/);

  const noBucket = await run(["--key", "k"], { TAPEDECK_STORAGE_SECRET: "s" });
  assert.equal(noBucket.code, 2);
  assert.match(noBucket.err[0], /^--bucket is required\n\nusage: tapedeck storage validate/);

  const noSecret = await run(base);
  assert.equal(noSecret.code, 2);
  assert.match(noSecret.err[0], /TAPEDECK_STORAGE_SECRET/);

  const unknownFlag = await run([...base, "--colour"], { TAPEDECK_STORAGE_SECRET: "s" });
  assert.equal(unknownFlag.code, 2);

  const badType = await run(["--type", "azure", "--bucket", "b-1", "--key", "k"], { TAPEDECK_STORAGE_SECRET: "s" });
  assert.equal(badType.code, 2);
  assert.match(badType.err[0], /azure is not supported/);
});
