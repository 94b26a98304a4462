import { z } from "zod";

// A storage destination as users write it: the template's `settings.recording.upload`
// (credentials `{key, secretKey}`) or a room's `recording_info.upload_info` (credentials `{key, secret}`).
// Both are normalised to one `UploadConfig` whose secret is always `credentials.secret`.

export const UPLOAD_TYPES = ["s3", "gs", "oss"] as const;
export type UploadType = (typeof UPLOAD_TYPES)[number];

export interface UploadConfig {
  type: UploadType;
  /** Bucket name. */
  location: string;
  /** Path prefix inside the bucket; the customer id when empty. */
  prefix: string;
  options: {
    region?: string;
    /** Any S3-compatible endpoint (MinIO, R2, Ceph, s3rver…); overrides the type's default endpoint. */
    endpoint?: string;
    /** Path-style addressing (`endpoint/bucket/key`); default true with a custom endpoint. */
    force_path_style?: boolean;
  };
  credentials?: { key: string; secret: string };
}

// Bucket names: 3–63 chars of lowercase letters, digits, dots, hyphens (and underscores, which GCS allows).
const bucket = z
  .string({ error: "Bucket location is missing" })
  .trim()
  .min(1, "Bucket location is missing")
  .regex(/^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/, "location must be a bucket name: 3-63 lowercase letters, digits, '.', '-' or '_'");

const prefix = z
  .string()
  .trim()
  .max(512)
  .refine((p) => !p.split("/").some((s) => s === ".." || s === "."), "prefix must not contain '.' or '..' segments")
  .transform((p) => p.replace(/^\/+|\/+$/g, ""))
  .optional();

const options = z
  .object({
    region: z
      .string()
      .trim()
      .max(64)
      .regex(/^[a-zA-Z0-9-_]*$/, "region may contain letters, digits, '-' and '_'")
      .optional(),
    endpoint: z
      .string()
      .url("endpoint must be a URL such as https://s3.example.com")
      .refine((u) => /^https?:\/\//.test(u), "endpoint must be http(s)")
      .optional(),
    force_path_style: z.boolean().optional(),
  })
  .strict()
  .optional();

const type = z.enum(["s3", "gs", "oss", "azure"], { error: "type must be one of s3, gs, oss" }).refine((t) => t !== "azure", {
  message: "azure is not supported by tapedeck; use s3, gs or oss (any S3-compatible store works as s3 with options.endpoint)",
});

const key = z.string().trim().min(1).max(256);
const secret = z.string().min(1).max(1024);

/** `settings.recording.upload` of a template; `secretKey` is the documented name, `secret` is accepted too. */
export const templateUploadSchema = z.object({
  type,
  location: bucket,
  prefix,
  options,
  credentials: z.object({ key, secretKey: secret.optional(), secret: secret.optional() }).strict().optional(),
});

/** `recording_info.upload_info` of a room; `secret` is the documented name, `secretKey` is accepted too. */
export const roomUploadSchema = templateUploadSchema;

export type UploadInput = z.infer<typeof templateUploadSchema>;

export function normalizeUpload(input: UploadInput): UploadConfig {
  const secretValue = input.credentials?.secret ?? input.credentials?.secretKey;
  return {
    type: input.type as UploadType,
    location: input.location,
    prefix: input.prefix ?? "",
    options: { ...(input.options ?? {}) },
    credentials: input.credentials && secretValue !== undefined ? { key: input.credentials.key, secret: secretValue } : undefined,
  };
}

/**
 * What the API shows of a destination: everything but the secret. `secretKeyName` is the key under
 * which the caller's dialect expects it (`secretKey` for templates, `secret` for rooms); it is left out.
 */
export function redactUpload(cfg: UploadConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { type: cfg.type, location: cfg.location, prefix: cfg.prefix, options: cfg.options };
  if (cfg.credentials) out.credentials = { key: cfg.credentials.key };
  return out;
}

/** The URL users see for an object: `s3://bucket/prefix/path` (`gs://`, `oss://` likewise). */
export function displayPath(cfg: Pick<UploadConfig, "type" | "location">, objectKey: string): string {
  return `${cfg.type}://${cfg.location}/${objectKey}`;
}
