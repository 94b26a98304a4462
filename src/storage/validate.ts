import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import { AppError } from "../errors.ts";
import { DestinationError, permissionName } from "./destination-errors.ts";
import type { ObjectStorage } from "./storage.ts";

// "Can we record into this destination?": write a small probe object under the prefix, read it back,
// compare, delete it. Each step's failure is explained in words a user can act on.

export const VALIDATED_MESSAGE = "Recording upload config validated successfully";

export type ValidationStep = "upload" | "download" | "delete";

export interface ValidationCheck {
  step: ValidationStep;
  ok: boolean;
  message: string;
}

export interface ValidationReport {
  valid: boolean;
  message: string;
  checks: ValidationCheck[];
}

export interface ValidateOptions {
  /** The prefix recordings will be written under (already defaulted to the customer id). */
  prefix: string;
  /** For tests: the probe's name. */
  probeId?: string;
}

const MAX_PROBE_BYTES = 64 * 1024;

async function readSmall(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += (chunk as Buffer).length;
    if (total > MAX_PROBE_BYTES) {
      stream.destroy();
      break;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

const sentence = (s: string): string => `${s.charAt(0).toUpperCase()}${s.slice(1)}${/[.!?]$/.test(s) ? "" : "."}`;

const errorText = (err: unknown): string =>
  err instanceof AppError ? err.message : `unexpected error: ${(err as Error)?.message ?? String(err)}`;

/** The sentence for a failed step; the error's own message carries the specifics (bucket, region, key). */
export function explainFailure(step: ValidationStep, err: unknown, storageKind: ObjectStorage["kind"]): string {
  if (!(err instanceof DestinationError)) return `The ${step} step failed: ${sentence(errorText(err))}`;
  const type = storageKind === "internal" ? "s3" : storageKind;
  switch (err.failure) {
    case "access_denied":
      if (step === "upload") {
        return `The key cannot upload (AccessDenied on PutObject). Both browser and SFU recording need upload permission (${permissionName(type, "PutObject")}).`;
      }
      if (step === "download") {
        return `The key can upload but not download (AccessDenied on GetObject). SFU recording needs download permission too (${permissionName(type, "GetObject")}); browser recording only needs upload.`;
      }
      return `The key can upload and download but not delete (AccessDenied on DeleteObject). Recording does not need delete permission, but the probe object was left behind.`;
    case "bad_secret":
      return `${sentence(err.message)} Check the secret: credentials.secretKey in a template, credentials.secret in a room.`;
    case "unknown_key":
      return `${sentence(err.message)} Check credentials.key.`;
    case "no_such_key":
      return `The probe object was uploaded but then not found (${err.providerCode} on ${err.operation}); the store may not keep objects under this prefix, or may show them only after a delay.`;
    case "no_credentials":
    case "no_bucket":
    case "wrong_region":
    case "unreachable":
    case "refused":
      return sentence(err.message);
    case "rejected":
      return `The ${step} step failed: ${sentence(err.message)}`;
  }
}

export async function validateDestination(storage: ObjectStorage, opts: ValidateOptions): Promise<ValidationReport> {
  const prefix = opts.prefix.replace(/^\/+|\/+$/g, "");
  const id = opts.probeId ?? randomUUID();
  const key = `${prefix ? `${prefix}/` : ""}.tapedeck-probe-${id}`;
  const where = storage.displayPath(key);
  const content = Buffer.from(`tapedeck storage probe ${id} ${new Date().toISOString()}\n`);
  const checks: ValidationCheck[] = [];
  const fail = (step: ValidationStep, err: unknown): ValidationReport => {
    const message = explainFailure(step, err, storage.kind);
    checks.push({ step, ok: false, message });
    return { valid: false, message, checks };
  };

  try {
    await storage.put(key, content, { contentType: "text/plain" });
    checks.push({ step: "upload", ok: true, message: `uploaded ${where}` });
  } catch (err) {
    return fail("upload", err);
  }

  let readBack: { ok: true } | { ok: false; report: ValidationReport };
  try {
    const got = await readSmall(await storage.get(key));
    if (got.equals(content)) {
      checks.push({ step: "download", ok: true, message: `downloaded ${where} and it matches what was uploaded` });
      readBack = { ok: true };
    } else {
      const message = `Downloaded ${where} but it differs from what was uploaded (${got.length} bytes instead of ${content.length}); the store or a proxy changes objects.`;
      checks.push({ step: "download", ok: false, message });
      readBack = { ok: false, report: { valid: false, message, checks } };
    }
  } catch (err) {
    readBack = { ok: false, report: fail("download", err) };
  }

  // Clean up even when the download failed; a failed delete does not make the destination unusable.
  let deleteNote = "";
  try {
    await storage.delete(key);
    checks.push({ step: "delete", ok: true, message: `deleted ${where}` });
  } catch (err) {
    const message = explainFailure("delete", err, storage.kind);
    checks.push({ step: "delete", ok: false, message });
    deleteNote = ` Note: ${message} You may remove ${where} yourself.`;
  }

  if (!readBack.ok) return { ...readBack.report, message: readBack.report.message + deleteNote, checks };
  return { valid: true, message: VALIDATED_MESSAGE + (deleteNote ? `.${deleteNote}` : ""), checks };
}
