import { createHmac, timingSafeEqual } from "node:crypto";

// Every delivery is signed (a tapedeck extension; 100ms only passes static headers through):
//   X-Tapedeck-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(webhookSecret, "<t>.<raw body>")>
// The key is the secret string exactly as shown (UTF-8, including its `whsec_` prefix).
// Verification accepts any `v1=` entry (room for key rotation) and rejects timestamps further than
// `toleranceSeconds` from now, so a captured delivery cannot be replayed later by a third party.

export const SIGNATURE_HEADER = "X-Tapedeck-Signature";
export const EVENT_ID_HEADER = "X-Tapedeck-Event-Id";
export const EVENT_TYPE_HEADER = "X-Tapedeck-Event-Type";
export const ATTEMPT_HEADER = "X-Tapedeck-Delivery-Attempt";
export const USER_AGENT = "tapedeck-webhooks/1";

export const DEFAULT_TOLERANCE_SECONDS = 300;

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

function hmacHex(secret: string, timestamp: number, body: string | Buffer): string {
  return createHmac("sha256", secret).update(`${timestamp}.`).update(body).digest("hex");
}

/** The value of `X-Tapedeck-Signature` for this body at this time. */
export function signWebhook(secret: string, body: string | Buffer, atSeconds: number = nowSeconds()): string {
  const t = Math.floor(atSeconds);
  return `t=${t},v1=${hmacHex(secret, t, body)}`;
}

export interface VerifyOptions {
  secret: string;
  /** The `X-Tapedeck-Signature` header as received (undefined when missing). */
  header: string | string[] | undefined;
  /** The raw request body, byte for byte (not re-serialised JSON). */
  body: string | Buffer;
  toleranceSeconds?: number;
  nowSeconds?: number;
}

/** True when the header carries a valid signature of `body` made within the tolerance. */
export function verifyWebhookSignature(opts: VerifyOptions): boolean {
  const header = Array.isArray(opts.header) ? opts.header.join(",") : opts.header;
  if (typeof header !== "string" || header.length > 4096) return false;
  let t: number | undefined;
  const candidates: string[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "t" && /^\d{1,12}$/.test(value)) t = Number(value);
    else if (key === "v1" && /^[0-9a-f]{64}$/i.test(value)) candidates.push(value.toLowerCase());
  }
  if (t === undefined || candidates.length === 0) return false;
  const now = opts.nowSeconds ?? nowSeconds();
  if (Math.abs(now - t) > (opts.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) return false;
  const expected = Buffer.from(hmacHex(opts.secret, t, opts.body), "hex");
  let ok = false;
  for (const c of candidates) {
    if (timingSafeEqual(expected, Buffer.from(c, "hex"))) ok = true;
  }
  return ok;
}

/** Header names tapedeck sets itself; configured custom headers may not use them. */
export const RESERVED_HEADER_NAMES = new Set(
  ["content-type", "content-length", "user-agent", "host", "connection", "transfer-encoding", "expect", "keep-alive", "upgrade"].concat(
    [SIGNATURE_HEADER, EVENT_ID_HEADER, EVENT_TYPE_HEADER, ATTEMPT_HEADER].map((h) => h.toLowerCase()),
  ),
);

export const isReservedHeaderName = (name: string): boolean =>
  RESERVED_HEADER_NAMES.has(name.toLowerCase()) || name.toLowerCase().startsWith("x-tapedeck-");

export interface DeliveryHeadersInput {
  secret: string;
  body: string;
  eventId: string;
  eventType: string;
  attempt: number;
  /** The endpoint's static headers, sent as configured (reserved names are dropped). */
  custom: Record<string, string>;
  nowSeconds?: number;
}

/** All headers of one delivery: the custom ones first, then tapedeck's own. */
export function buildDeliveryHeaders(input: DeliveryHeadersInput): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.custom)) {
    if (!isReservedHeaderName(name)) headers[name] = value;
  }
  headers["Content-Type"] = "application/json";
  headers["User-Agent"] = USER_AGENT;
  headers[EVENT_ID_HEADER] = input.eventId;
  headers[EVENT_TYPE_HEADER] = input.eventType;
  headers[ATTEMPT_HEADER] = String(input.attempt);
  headers[SIGNATURE_HEADER] = signWebhook(input.secret, input.body, input.nowSeconds);
  return headers;
}
