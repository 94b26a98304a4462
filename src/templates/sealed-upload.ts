import { SecretBox } from "../crypto/secret-box.ts";
import { normalizeUpload, redactUpload, type UploadConfig, type UploadInput } from "../domain/upload-config.ts";

// A destination as stored: the UploadConfig with `credentials` sealed (AES-GCM) as one string.
export interface StoredUpload extends Omit<UploadConfig, "credentials"> {
  credentials?: string;
}

/**
 * Seals an incoming destination. Secrets are write-only: when the caller sends the same destination
 * (type, bucket, access key) without a secret, the stored secret is kept, so a form that never shows
 * the secret can still save other fields.
 */
export function sealUpload(box: SecretBox, input: UploadInput, previous: StoredUpload | null | undefined): StoredUpload {
  const cfg = normalizeUpload(input);
  let credentials: string | undefined;
  if (cfg.credentials) {
    credentials = box.sealJson(cfg.credentials);
  } else if (input.credentials?.key && previous?.credentials && previous.type === cfg.type && previous.location === cfg.location) {
    const old = openCredentials(box, previous.credentials);
    if (old?.key === input.credentials.key) credentials = previous.credentials;
  }
  const { credentials: _drop, ...rest } = cfg;
  return credentials ? { ...rest, credentials } : rest;
}

function openCredentials(box: SecretBox, sealed: string): { key: string; secret: string } | null {
  try {
    return box.openJson<{ key: string; secret: string }>(sealed);
  } catch {
    return null;
  }
}

export function openUpload(box: SecretBox, stored: StoredUpload): UploadConfig {
  const creds = stored.credentials && SecretBox.isSealed(stored.credentials) ? openCredentials(box, stored.credentials) : null;
  return { ...stored, options: stored.options ?? {}, prefix: stored.prefix ?? "", credentials: creds ?? undefined };
}

/** What the API returns: the destination with the access key but never the secret. */
export function renderUpload(box: SecretBox, stored: StoredUpload): Record<string, unknown> {
  return redactUpload(openUpload(box, stored));
}
