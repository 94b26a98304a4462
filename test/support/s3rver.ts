import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";

// A real S3-protocol server for integration tests: s3rver 3.7.1 (filesystem store in a temp folder)
// behind a small HTTP front that checks AWS Signature V4. s3rver itself only checks V2 signatures and
// accepts any V4 signature, so without the front a wrong secret would look valid.

export interface TestS3 {
  /** `http://127.0.0.1:<port>`; path-style addressing. */
  endpoint: string;
  accessKey: string;
  secret: string;
  bucket: string;
  /** s3rver's data folder (objects are stored as files under it). */
  directory: string;
  /** Requests the front has seen: method and path (without query), in order. */
  requests: Array<{ method: string; path: string }>;
  /** The keys in the bucket under `prefix`, listed as the bucket's owner would (ListObjectsV2), sorted. */
  keys(prefix?: string): Promise<string[]>;
  stop(): Promise<void>;
}

// s3rver ships no types and is CommonJS; its built-in account is S3RVER/S3RVER.
interface S3rverApp {
  configureBuckets(): Promise<void>;
  callback(): (req: http.IncomingMessage, res: http.ServerResponse) => void;
  logger: { exceptions: { unhandle(): void }; close(): void };
}
const S3rver = createRequire(import.meta.url)("s3rver") as new (opts: Record<string, unknown>) => S3rverApp;

const ACCESS_KEY = "S3RVER";
const SECRET = "S3RVER";

export async function startS3rver(opts: { bucket?: string } = {}): Promise<TestS3> {
  const bucket = opts.bucket ?? "tapedeck-test";
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-s3rver-"));
  const app = new S3rver({ silent: true, directory, configureBuckets: [{ name: bucket }], vhostBuckets: false });
  await app.configureBuckets();
  const handle = app.callback();
  const requests: TestS3["requests"] = [];

  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? "", path: (req.url ?? "").split("?")[0] });
    const problem = checkSignatureV4(req, { [ACCESS_KEY]: SECRET });
    if (problem) {
      res.writeHead(403, { "content-type": "application/xml" });
      res.end(s3ErrorXml(problem.code, problem.message));
      req.resume();
      return;
    }
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    accessKey: ACCESS_KEY,
    secret: SECRET,
    bucket,
    directory,
    requests,
    async keys(prefix = "") {
      const client = new S3Client({
        endpoint: `http://127.0.0.1:${port}`,
        region: "us-east-1",
        forcePathStyle: true,
        credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET },
      });
      try {
        const out: string[] = [];
        let token: string | undefined;
        do {
          const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
          for (const o of page.Contents ?? []) if (o.Key) out.push(o.Key);
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
        return out.sort();
      } finally {
        client.destroy();
      }
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      app.logger.exceptions.unhandle();
      app.logger.close();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}

export function s3ErrorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>TEST</RequestId></Error>`;
}

// --- AWS Signature V4 check (header and presigned-query forms), as S3 does it -----------------------

const enc = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const sha256 = (s: string): string => createHash("sha256").update(s).digest("hex");
const hmac = (key: Buffer | string, s: string): Buffer => createHmac("sha256", key).update(s).digest();

function parseQuery(raw: string): Array<[string, string]> {
  if (!raw) return [];
  return raw
    .split("&")
    .filter(Boolean)
    .map((pair) => {
      const i = pair.indexOf("=");
      const k = i < 0 ? pair : pair.slice(0, i);
      const v = i < 0 ? "" : pair.slice(i + 1);
      return [decodeURIComponent(k), decodeURIComponent(v)];
    });
}

export function checkSignatureV4(
  req: http.IncomingMessage,
  secrets: Record<string, string>,
  now = Date.now(),
): { code: string; message: string } | null {
  const [rawPath, rawQuery = ""] = (req.url ?? "/").split("?", 2);
  const query = parseQuery(rawQuery);
  const q = new Map(query);
  let credential: string, signedHeaders: string, signature: string, amzDate: string, payloadHash: string;
  const auth = req.headers.authorization;
  if (auth) {
    const m = /^AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)$/.exec(auth);
    if (!m) return { code: "AuthorizationHeaderMalformed", message: "The authorization header is malformed" };
    [, credential, signedHeaders, signature] = m;
    amzDate = String(req.headers["x-amz-date"] ?? "");
    payloadHash = String(req.headers["x-amz-content-sha256"] ?? "");
  } else if (q.has("X-Amz-Signature")) {
    credential = q.get("X-Amz-Credential") ?? "";
    signedHeaders = q.get("X-Amz-SignedHeaders") ?? "";
    signature = q.get("X-Amz-Signature") ?? "";
    amzDate = q.get("X-Amz-Date") ?? "";
    payloadHash = "UNSIGNED-PAYLOAD";
    const issued = Date.parse(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, "$1-$2-$3T$4:$5:$6Z"));
    if (!(issued + Number(q.get("X-Amz-Expires")) * 1000 >= now)) return { code: "AccessDenied", message: "Request has expired" };
  } else {
    return null; // anonymous: s3rver decides
  }
  const [accessKey, ...scopeParts] = credential.split("/");
  const secret = secrets[accessKey];
  if (secret === undefined)
    return { code: "InvalidAccessKeyId", message: "The AWS Access Key Id you provided does not exist in our records." };
  const scope = scopeParts.join("/");
  const [date, region, service] = scopeParts;

  const canonicalQuery = query
    .filter(([k]) => k !== "X-Amz-Signature")
    .map(([k, v]) => [enc(k), enc(v)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const names = signedHeaders.split(";");
  const canonicalHeaders = names
    .map(
      (n) =>
        `${n}:${String(req.headers[n] ?? "")
          .trim()
          .replace(/\s+/g, " ")}\n`,
    )
    .join("");
  const canonicalRequest = [req.method, rawPath, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash].join("\n");
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonicalRequest)].join("\n");
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), "aws4_request");
  const expected = hmac(key, stringToSign);
  const given = Buffer.from(signature, "hex");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return {
      code: "SignatureDoesNotMatch",
      message: "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    };
  }
  return null;
}
