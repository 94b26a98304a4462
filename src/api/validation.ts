import { z } from "zod";
import { AppError, type ErrorReason } from "../errors.ts";
import { controlCharMessage, findControlChar } from "../util/text.ts";

// Request parsing: every body, query and path parameter goes through a zod schema; a failure becomes
// a 400 whose `details` name each bad field, e.g. `name: must match ^[a-zA-Z0-9.:_-]+$`.

export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => {
    const where = i.path.length ? i.path.map(String).join(".") : "(body)";
    return `${where}: ${i.message}`;
  });
}

/**
 * Issue messages that are 100ms's documented error text for that mistake, with the whole text its
 * answer has: the error's message is that text as it is, and so is its line in `details` (100ms's
 * samples put "Invalid body param: …" in `details` too). The schemas use the keys as their messages.
 */
const REFERENCE_TEXTS = new Map<string, string>([
  ["Bucket location is missing", "Bucket location is missing"],
  ["max_duration_seconds less than 120 seconds", "Invalid body param: max_duration_seconds less than 120 seconds"],
  ["max_duration_seconds greater than 43200 seconds", "Invalid body param: max_duration_seconds greater than 43200 seconds"],
  ["room size greater than 20000", "Invalid body param: room size greater than 20000"],
  [
    "room size greater than 2500, set large_room flag as true",
    "Invalid body param: room size greater than 2500, set large_room flag as true",
  ],
]);

/** The message of a path parameter that is not an object id (objectIdParam): parseParams answers 404 for it. */
const NOT_AN_ID = "is not a 24-character hex id";

/** What a 404 calls the object an id param names (`room_id` → room). */
const ID_NOUNS: Record<string, string> = {
  asset_id: "recording asset",
  stream_id: "live stream",
  event_id: "webhook event",
};
const nounOf = (param: string): string => ID_NOUNS[param] ?? param.replace(/_id$/, "").replace(/_/g, " ");

function parseWith<S extends z.ZodType>(schema: S, value: unknown, reason: ErrorReason, what: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const first = r.error.issues[0];
  const whole = first ? REFERENCE_TEXTS.get(first.message) : undefined;
  if (whole) {
    const details = describeIssues(r.error);
    details[0] = whole;
    throw new AppError(reason, whole, { details });
  }
  // An id that is not an id names no object: the same 404 as an id that names none (100ms documents
  // no answer for a malformed id; its "not found" answers are 404s).
  if (reason === "invalid_param" && first?.message.endsWith(NOT_AN_ID)) {
    const param = first.message.slice(0, -NOT_AN_ID.length).trim();
    const noun = nounOf(param);
    const given =
      first.path.length === 1 && value !== null && typeof value === "object" ? (value as Record<PropertyKey, unknown>)[first.path[0]] : "";
    throw new AppError("not_found", `${noun} not found`, {
      details: [`no ${noun} with id ${JSON.stringify(String(given ?? ""))}: ${param} ${NOT_AN_ID}`],
    });
  }
  const details = describeIssues(r.error);
  // 100ms phrases body errors as "Invalid body param: <first problem>".
  const message =
    reason === "invalid_body" ? `Invalid body param: ${details[0] ?? "malformed body"}` : `Invalid ${what}: ${details[0] ?? ""}`;
  throw new AppError(reason, message, { details });
}

/** Objects and arrays in a request body may nest this deep; deeper bodies are refused before any handler. */
export const MAX_JSON_DEPTH = 32;

/** True when `text` (JSON) nests objects/arrays deeper than `max`; brackets inside strings do not count. */
export function jsonNestedDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

export const parseBody = <S extends z.ZodType>(schema: S, body: unknown): z.infer<S> =>
  parseWith(schema, body ?? {}, "invalid_body", "body");

/**
 * Query and path values are names, ids, times and flags: a control character (a NUL that PostgreSQL
 * refuses to store or compare, an ESC for the logs) or a lone surrogate is never part of one, so it is
 * refused before any schema or query sees it.
 */
function refuseControlChars(values: unknown, reason: ErrorReason, what: string): void {
  if (values === null || typeof values !== "object") return;
  for (const [key, value] of Object.entries(values)) {
    for (const v of [value].flat()) {
      const code = typeof v === "string" ? findControlChar(v) : null;
      if (code)
        throw new AppError(reason, `Invalid ${what}: ${controlCharMessage(key, code)}`, {
          details: [`${key}: ${controlCharMessage(key, code)}`],
        });
    }
  }
}

export function parseQuery<S extends z.ZodType>(schema: S, query: unknown): z.infer<S> {
  refuseControlChars(query, "invalid_query", "query parameter");
  return parseWith(schema, query ?? {}, "invalid_query", "query parameter");
}

export function parseParams<S extends z.ZodType>(schema: S, params: unknown): z.infer<S> {
  refuseControlChars(params, "invalid_param", "path parameter");
  return parseWith(schema, params ?? {}, "invalid_param", "path parameter");
}

/** Query-string booleans: `true`/`false` (also 1/0). */
export const queryBool = z
  .enum(["true", "false", "1", "0"], { error: "must be true or false" })
  .transform((v) => v === "true" || v === "1");

/** Query-string timestamps (`after`, `before`): ISO 8601. */
export const queryTime = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), "must be an ISO 8601 time such as 2024-01-31T10:00:00.000Z")
  .transform((s) => new Date(s).toISOString());

/**
 * A 24-hex object id named `name` (`room_id`). In a path (parseParams) a value that is not one is a 404
 * like an unknown id; in a query or a body it is a 400 naming the field.
 */
export const objectIdParam = (name: string) => z.string().regex(/^[0-9a-f]{24}$/, `${name} ${NOT_AN_ID}`);
