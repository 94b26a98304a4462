import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { UploadConfig } from "../../src/domain/upload-config.ts";
import { OutboundPolicy, type Resolver } from "../../src/net/outbound-policy.ts";
import { DestinationError } from "../../src/storage/destination-errors.ts";
import { S3Storage } from "../../src/storage/s3.storage.ts";
import { startTestApp } from "../support/app.ts";
import { startS3rver, type TestS3 } from "../support/s3rver.ts";
import type { ApiError, StorageValidation } from "../support/api-types.ts";

// Storage endpoints and the outbound policy: POST /v2/storage/validate refuses a custom endpoint the
// policy refuses (400, the rule named) without probing it, and every storage request checks the address
// it connects to (a destination_error naming the rule, nothing sent).

let s3: TestS3;
before(async () => {
  s3 = await startS3rver();
});
after(async () => {
  await s3.stop();
});

const body = (endpoint: string) => ({
  type: "s3",
  location: s3.bucket,
  prefix: "p",
  options: { endpoint },
  credentials: { key: s3.accessKey, secretKey: s3.secret },
});
const upload = (endpoint: string): UploadConfig => ({
  type: "s3",
  location: s3.bucket,
  prefix: "p",
  options: { endpoint },
  credentials: { key: s3.accessKey, secret: s3.secret },
});

describe("storage endpoints and the outbound policy", () => {
  test("validate refuses the metadata address in any spelling with 400 naming the rule; the s3rver on loopback validates", async () => {
    const app = await startTestApp();
    try {
      for (const endpoint of [
        "http://169.254.169.254",
        "http://169.254.169.254:80/",
        "http://2852039166",
        "http://[::ffff:a9fe:a9fe]:9000",
        "http://0.0.0.0:9000",
      ]) {
        const res = await app.api<ApiError>("POST", "/v2/storage/validate", body(endpoint));
        assert.equal(res.status, 400, endpoint);
        assert.equal(res.body.reason, "invalid_body");
        assert.match(res.body.message, /^storage endpoint .* is .*, refused by the outbound policy \((link-local|unspecified)/, endpoint);
      }
      const ok = await app.api<StorageValidation>("POST", "/v2/storage/validate", body(s3.endpoint));
      assert.equal(ok.status, 200);
      assert.equal(ok.body.valid, true, ok.body.message);
    } finally {
      await app.close();
    }
  });

  test("with TAPEDECK_OUTBOUND_DENY=127.0.0.0/8 the s3rver endpoint on 127.0.0.1 is refused and never contacted", async () => {
    const app = await startTestApp({ env: { TAPEDECK_OUTBOUND_DENY: "127.0.0.0/8,::1/128" } });
    try {
      const seen = s3.requests.length;
      const res = await app.api<StorageValidation>("POST", "/v2/storage/validate", body(s3.endpoint));
      assert.equal(res.status, 400);
      assert.equal(
        res.body.message,
        `storage endpoint ${s3.endpoint} is 127.0.0.1, refused by the outbound policy (TAPEDECK_OUTBOUND_DENY entry 127.0.0.0/8); remove 127.0.0.0/8 from TAPEDECK_OUTBOUND_DENY, or add 127.0.0.1/32 to TAPEDECK_OUTBOUND_ALLOW`,
      );
      assert.equal(s3.requests.length, seen);
    } finally {
      await app.close();
    }
  });

  test("each storage request checks the address it connects to: a refused one is a destination_error naming the rule", async () => {
    const port = new URL(s3.endpoint).port;
    const resolve: Resolver = async (host) =>
      host === "metadata.test" ? [{ address: "169.254.169.254", family: 4 }] : [{ address: "127.0.0.1", family: 4 }];
    const seen = s3.requests.length;
    const cases: Array<[string, OutboundPolicy, RegExp]> = [
      [
        `http://metadata.test:${port}`,
        new OutboundPolicy({ resolve }),
        /metadata\.test resolves to 169\.254\.169\.254, refused by the outbound policy \(link-local 169\.254\.0\.0\/16: cloud metadata\)/,
      ],
      [
        s3.endpoint,
        new OutboundPolicy({ deny: ["127.0.0.0/8"] }),
        /127\.0\.0\.1 is refused by the outbound policy \(TAPEDECK_OUTBOUND_DENY entry 127\.0\.0\.0\/8\)/,
      ],
      [
        `http://localhost:${port}`,
        new OutboundPolicy({ deny: ["127.0.0.0/8", "::1/128"] }),
        /localhost resolves to .*, refused by the outbound policy \(TAPEDECK_OUTBOUND_DENY entry/,
      ],
    ];
    for (const [endpoint, policy, rule] of cases) {
      const storage = new S3Storage(upload(endpoint), undefined, policy);
      try {
        const err = await storage.put("p/x.txt", "hello").then(
          () => null,
          (e: unknown) => e,
        );
        assert.ok(err instanceof DestinationError, `${endpoint}: ${String(err)}`);
        assert.equal(err.reason, "destination_error");
        assert.equal(err.failure, "refused");
        assert.match(err.message, rule);
        await assert.rejects(storage.get("p/x.txt"), rule);
      } finally {
        storage.destroy();
      }
    }
    assert.equal(s3.requests.length, seen, "nothing reached the storage server");
    // The same endpoint under the default policy works.
    const open = new S3Storage(upload(`http://localhost:${port}`), undefined, new OutboundPolicy());
    try {
      assert.deepEqual(await open.put("p/x.txt", "hello"), { size: 5 });
    } finally {
      open.destroy();
    }
  });
});
