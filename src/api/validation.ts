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

function parseWith<S extends z.ZodType>(schema: S, value: unknown, reason: ErrorReason, what: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
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

export const objectIdParam = (name: string) => z.string().regex(/^[0-9a-f]{24}$/, `${name} must be a 24-character hex id`);
