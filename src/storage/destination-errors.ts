import { AppError } from "../errors.ts";
import { OUTBOUND_REFUSED_CODE } from "../net/outbound-policy.ts";
import type { UploadType } from "../domain/upload-config.ts";

// What a user's bucket answered, turned into errors a user can act on. The only place that looks at
// S3 error codes; everything else branches on `DestinationError.failure`. Messages never hold a secret.

export type StorageOperation = "PutObject" | "GetObject" | "HeadObject" | "DeleteObject" | "DeleteObjects" | "ListObjectsV2";

export type DestinationFailure =
  | "access_denied"
  | "bad_secret"
  | "unknown_key"
  | "no_credentials"
  | "no_bucket"
  | "wrong_region"
  | "unreachable"
  | "no_such_key"
  | "refused"
  | "rejected";

/** Where a request went, for messages (no secret in here). */
export interface DestinationTarget {
  type: UploadType;
  bucket: string;
  region: string;
  /** The endpoint actually used, e.g. `https://s3.us-east-1.amazonaws.com`. */
  endpoint: string;
  /** True when the user gave `options.endpoint` (an S3-compatible store of their own). */
  customEndpoint: boolean;
  accessKey?: string;
}

export class DestinationError extends AppError {
  readonly failure: DestinationFailure;
  readonly operation: StorageOperation;
  /** The provider's error code (`AccessDenied`, `NoSuchBucket`…) or the network error code. */
  readonly providerCode: string;

  constructor(args: {
    failure: DestinationFailure;
    operation: StorageOperation;
    providerCode: string;
    message: string;
    details?: string[];
    cause?: unknown;
  }) {
    super(args.failure === "no_such_key" ? "not_found" : "destination_error", args.message, {
      origin: "destination",
      details: args.details ?? [],
      cause: args.cause,
    });
    this.name = "DestinationError";
    this.failure = args.failure;
    this.operation = args.operation;
    this.providerCode = args.providerCode;
  }
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "ECONNABORTED",
]);

export function providerName(t: Pick<DestinationTarget, "type" | "customEndpoint" | "endpoint">): string {
  if (t.customEndpoint) return `the storage at ${t.endpoint}`;
  return t.type === "gs" ? "Google Cloud Storage" : t.type === "oss" ? "Alibaba OSS" : "AWS S3";
}

/** The permission a key needs for an operation, in the provider's own words. */
export function permissionName(type: UploadType, op: StorageOperation): string {
  const verb = verbOf(op);
  if (type === "gs")
    return { put: "storage.objects.create", get: "storage.objects.get", delete: "storage.objects.delete", list: "storage.objects.list" }[
      verb
    ];
  if (type === "oss") return { put: "oss:PutObject", get: "oss:GetObject", delete: "oss:DeleteObject", list: "oss:ListObjects" }[verb];
  return { put: "s3:PutObject", get: "s3:GetObject", delete: "s3:DeleteObject", list: "s3:ListBucket" }[verb];
}

function verbOf(op: StorageOperation): "put" | "get" | "delete" | "list" {
  if (op === "PutObject") return "put";
  if (op === "DeleteObject" || op === "DeleteObjects") return "delete";
  if (op === "ListObjectsV2") return "list";
  return "get";
}

function where(t: DestinationTarget): string {
  if (t.customEndpoint) return `at ${t.endpoint}`;
  if (t.type === "gs") return "in Google Cloud Storage";
  return `in region ${t.region}`;
}

interface SdkErrorLike {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  Region?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string };
  $response?: { headers?: Record<string, string | undefined> };
}

/** Turns an SDK or network error into a `DestinationError`; an abort is passed through unchanged. */
export function mapS3Error(err: unknown, op: StorageOperation, target: DestinationTarget, key?: string): Error {
  const e = (err ?? {}) as SdkErrorLike;
  if (e.name === "AbortError") return err as Error;
  const status = e.$metadata?.httpStatusCode;
  const named = e.Code ?? (status === undefined ? e.code : undefined) ?? e.name ?? "UnknownError";
  // HEAD answers carry no body, so a redirect shows up only as a status.
  const code = status === 301 && !e.Code ? "PermanentRedirect" : named;
  const ak = target.accessKey ? `"${target.accessKey}"` : "(none)";
  const bucket = `"${target.bucket}"`;
  const details = [`operation: ${op}`, `provider code: ${code}`];
  if (status !== undefined) details.push(`http status: ${status}`);
  if (e.$metadata?.requestId) details.push(`request id: ${e.$metadata.requestId}`);
  const make = (failure: DestinationFailure, message: string): DestinationError =>
    new DestinationError({ failure, operation: op, providerCode: code, message, details, cause: err });

  if (status === undefined && e.code === OUTBOUND_REFUSED_CODE) {
    // The outbound policy refused the address before connecting: its message names the rule and the fix.
    return make("refused", `storage endpoint ${target.endpoint}: ${e.message}`);
  }
  if (
    status === undefined &&
    (NETWORK_CODES.has(String(e.code)) ||
      e.name === "TimeoutError" ||
      /^(CERT_|ERR_TLS|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED)/.test(String(e.code)))
  ) {
    return make(
      "unreachable",
      `cannot reach endpoint ${target.endpoint} (${e.code ?? e.name}): check the bucket's region or options.endpoint, and that this server can connect to it`,
    );
  }
  if (e.name === "CredentialsProviderError" || code === "CredentialsProviderError") {
    return make("no_credentials", "no storage credentials: set credentials.key and the secret for this destination");
  }
  switch (code) {
    case "SignatureDoesNotMatch":
      return make("bad_secret", `the access key or secret is wrong: the secret does not match access key ${ak} (SignatureDoesNotMatch)`);
    case "InvalidAccessKeyId":
      return make(
        "unknown_key",
        `the access key or secret is wrong: ${providerName(target)} does not know access key ${ak} (InvalidAccessKeyId)`,
      );
    case "NoSuchBucket":
      return make(
        "no_bucket",
        `bucket ${bucket} does not exist ${where(target)} (NoSuchBucket): check the bucket name (location) and region`,
      );
    case "NoSuchKey":
    case "NotFound":
      return make("no_such_key", `object "${key ?? ""}" does not exist in bucket ${bucket}; retention rules may have removed it`);
    case "PermanentRedirect":
    case "AuthorizationHeaderMalformed":
    case "IllegalLocationConstraintException":
    case "MovedPermanently": {
      const actual = e.Region ?? e.$response?.headers?.["x-amz-bucket-region"];
      return make(
        "wrong_region",
        `bucket ${bucket} is not in region ${target.region}${actual ? `; it is in ${actual}` : ""} (${code}): set options.region${actual ? ` to "${actual}"` : " to the bucket's region"}`,
      );
    }
    case "AccessDenied":
    case "Forbidden":
    case "AllAccessDisabled":
      return make(
        "access_denied",
        `access denied: key ${ak} may not ${{ put: "upload to", delete: "delete from", list: "list", get: "download from" }[verbOf(op)]} bucket ${bucket} (${code} on ${op}); grant it ${permissionName(target.type, op)}`,
      );
  }
  const said = e.message && e.message !== "UnknownError" ? `: ${e.message}` : "";
  return make("rejected", `${providerName(target)} refused ${op} on bucket ${bucket} (${code}${status ? `, HTTP ${status}` : ""})${said}`);
}
