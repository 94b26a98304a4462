import { parseArgs } from "node:util";
import { describeIssues } from "../api/validation.ts";
import { normalizeUpload, templateUploadSchema } from "../domain/upload-config.ts";
import { AppError } from "../errors.ts";
import { OutboundPolicy } from "../net/outbound-policy.ts";
import { S3Storage } from "./s3.storage.ts";
import { validateDestination } from "./validate.ts";

// `tapedeck storage validate …`: the same probe as POST /v2/storage/validate, from a shell. The secret
// may come from TAPEDECK_STORAGE_SECRET so it stays out of shell history.

export const STORAGE_VALIDATE_USAGE = `usage: tapedeck storage validate --type s3|gs|oss --bucket B [--region R] [--prefix P]
                                 [--endpoint URL] [--path-style | --virtual-hosted] --key K [--secret S]

Writes a small probe object under the prefix, reads it back and deletes it, then says what the key may do.
  --type        s3 (AWS or any S3-compatible store with --endpoint), gs (Google Cloud Storage, HMAC key), oss (Alibaba OSS)
  --bucket      bucket name
  --region      bucket region (s3 default us-east-1; oss required, e.g. cn-hangzhou)
  --prefix      where recordings go inside the bucket (default: the customer id when known, else the bucket root)
  --endpoint    S3-compatible endpoint URL (MinIO, R2, Ceph…); path-style addressing unless --virtual-hosted
  --key         access key id (GCS: HMAC access id)
  --secret      secret key; prefer the TAPEDECK_STORAGE_SECRET environment variable`;

export interface StorageCliDeps {
  env?: NodeJS.ProcessEnv;
  out?: (line: string) => void;
  err?: (line: string) => void;
  /** The prefix recordings use when none is configured (the app's customer id). */
  customerId?: string;
}

export async function runStorageValidateCli(argv: string[], deps: StorageCliDeps = {}): Promise<number> {
  const env = deps.env ?? process.env;
  const out = deps.out ?? ((l: string) => console.log(l));
  const err = deps.err ?? ((l: string) => console.error(l));
  const usage = (problem: string): number => {
    err(`${problem}\n\n${STORAGE_VALIDATE_USAGE}`);
    return 2;
  };

  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv[0] === "validate" ? argv.slice(1) : argv,
      options: {
        type: { type: "string", default: "s3" },
        bucket: { type: "string" },
        region: { type: "string" },
        prefix: { type: "string" },
        endpoint: { type: "string" },
        "path-style": { type: "boolean" },
        "virtual-hosted": { type: "boolean" },
        key: { type: "string" },
        secret: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    return usage((e as Error).message);
  }
  if (values.help) {
    out(STORAGE_VALIDATE_USAGE);
    return 0;
  }
  const str = (k: string): string | undefined => (typeof values[k] === "string" ? (values[k] as string) : undefined);
  const secret = str("secret") ?? env.TAPEDECK_STORAGE_SECRET;
  if (!str("bucket")) return usage("--bucket is required");
  if (!str("key")) return usage("--key is required");
  if (!secret) return usage("the secret is required: set TAPEDECK_STORAGE_SECRET (or pass --secret)");
  if (values["path-style"] && values["virtual-hosted"]) return usage("--path-style and --virtual-hosted exclude each other");

  const parsed = templateUploadSchema.safeParse({
    type: str("type"),
    location: str("bucket"),
    prefix: str("prefix"),
    options: {
      region: str("region"),
      endpoint: str("endpoint"),
      force_path_style: values["path-style"] ? true : values["virtual-hosted"] ? false : undefined,
    },
    credentials: { key: str("key"), secret },
  });
  if (!parsed.success) return usage(describeIssues(parsed.error).join("\n"));
  const upload = normalizeUpload(parsed.data);

  let storage: S3Storage;
  try {
    // The same outbound policy as the server: TAPEDECK_OUTBOUND_DENY / _ALLOW (CIDR lists) change the built-in one.
    const list = (v: string | undefined) =>
      (v ?? "")
        .split(",")
        .map((c) => c.trim())
        .filter(Boolean);
    const policy = new OutboundPolicy({ deny: list(env.TAPEDECK_OUTBOUND_DENY), allow: list(env.TAPEDECK_OUTBOUND_ALLOW) });
    if (upload.options.endpoint) await policy.checkUrl(upload.options.endpoint, "storage endpoint");
    storage = new S3Storage(upload, undefined, policy);
  } catch (e) {
    if (e instanceof AppError) return usage([e.message, ...e.details].join("\n"));
    if (e instanceof TypeError || (e as { code?: string }).code === "ERR_INVALID_ARG_VALUE")
      return usage(`TAPEDECK_OUTBOUND_DENY / _ALLOW: ${(e as Error).message}`);
    throw e;
  }
  const prefix = upload.prefix || deps.customerId || "";
  out(`checking ${storage.displayPath(prefix)}${prefix ? "" : " (bucket root)"}`);
  try {
    const report = await validateDestination(storage, { prefix });
    for (const c of report.checks) out(`${c.ok ? "ok    " : "FAILED"} ${c.step.padEnd(8)} ${c.message}`);
    (report.valid ? out : err)(report.message);
    return report.valid ? 0 : 1;
  } finally {
    storage.destroy();
  }
}
