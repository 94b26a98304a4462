// One error type for everything the API can answer with. `reason` is a finite list of machine codes;
// `origin` says whether the user's side (bucket, webhook URL, request) or tapedeck itself failed.

export const ERROR_REASONS = {
  invalid_body: 400,
  invalid_query: 400,
  invalid_param: 400,
  /** Malformed HTTP: a request line, header or chunked framing Node's parser refuses. */
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  /** The request (headers, then body) did not arrive within the configured time. */
  timeout: 408,
  conflict: 409,
  /** It existed and is over (an ended live stream's playlists: its recording is elsewhere). */
  gone: 410,
  payload_too_large: 413,
  /** A path segment longer than the router accepts. */
  uri_too_long: 414,
  unsupported_media_type: 415,
  destination_error: 424,
  rate_limited: 429,
  headers_too_large: 431,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorReason = keyof typeof ERROR_REASONS;
export type ErrorOrigin = "client" | "destination" | "internal";

export interface AppErrorOptions {
  details?: string[];
  cause?: unknown;
  origin?: ErrorOrigin;
  status?: number;
}

export class AppError extends Error {
  readonly reason: ErrorReason;
  readonly status: number;
  readonly details: string[];
  readonly origin: ErrorOrigin;

  constructor(reason: ErrorReason, message: string, options: AppErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = "AppError";
    this.reason = reason;
    this.status = options.status ?? ERROR_REASONS[reason];
    this.details = options.details ?? [];
    this.origin = options.origin ?? (this.status >= 500 ? "internal" : "client");
  }

  /** The body the API promises: `{code, message, details}` (100ms shape: `code` is the HTTP status). */
  toJSON(): ErrorBody {
    return { code: this.status, message: this.message, details: this.details, reason: this.reason, origin: this.origin };
  }
}

export interface ErrorBody {
  code: number;
  message: string;
  details: string[];
  reason: ErrorReason;
  origin: ErrorOrigin;
}

/** The reason for an HTTP status (the first listed with it), for answers that only have a status. */
export function reasonForStatus(status: number): ErrorReason {
  const found = (Object.keys(ERROR_REASONS) as ErrorReason[]).find((r) => ERROR_REASONS[r] === status);
  return found ?? (status >= 500 ? "internal" : "invalid_request");
}

export const notFound = (what: string, id: string): AppError =>
  new AppError("not_found", `${what} not found`, { details: [`no ${what} with id ${JSON.stringify(id)}`] });

export const badRequest = (message: string, details: string[] = []): AppError => new AppError("invalid_body", message, { details });
