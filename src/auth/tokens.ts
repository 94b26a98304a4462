import { SignJWT, errors as joseErrors, jwtVerify, type JWTPayload } from "jose";
import { AppError } from "../errors.ts";
import { newUuid } from "../ids.ts";
import { controlCharMessage, findControlChar } from "../util/text.ts";

// Management tokens (REST API) and app tokens (peers), HS256 with the app secret, with exactly the
// claims the 100ms server SDKs put in them, so tokens minted by those SDKs work here unchanged.

export type TokenType = "management" | "app";

export interface TokenKeys {
  accessKey: string;
  appSecret: string;
}

export interface ManagementClaims extends JWTPayload {
  access_key: string;
  type: "management";
  version: 2;
}

export interface AppClaims extends JWTPayload {
  access_key: string;
  type: "app";
  version: 2;
  room_id: string;
  role: string;
  user_id?: string;
}

const MAX_MANAGEMENT_SECONDS = 14 * 86400;
const MAX_APP_SECONDS = 90 * 86400;
const CLOCK_TOLERANCE_SECONDS = 30;

const secretOf = (keys: TokenKeys) => new TextEncoder().encode(keys.appSecret);

async function sign(keys: TokenKeys, claims: Record<string, unknown>, validForSeconds: number): Promise<string> {
  // As the 100ms SDK does: iat 10 s in the past, nbf = iat, exp = nbf + validity.
  const iat = Math.floor(Date.now() / 1000) - 10;
  return new SignJWT({ access_key: keys.accessKey, ...claims, version: 2 })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(iat + validForSeconds)
    .setJti(newUuid())
    .sign(secretOf(keys));
}

export function mintManagementToken(keys: TokenKeys, validForSeconds = 86400): Promise<string> {
  if (!(validForSeconds > 0 && validForSeconds <= MAX_MANAGEMENT_SECONDS)) {
    throw new AppError("invalid_body", `management token validity must be 1..${MAX_MANAGEMENT_SECONDS} seconds (14 days)`);
  }
  return sign(keys, { type: "management" }, validForSeconds);
}

export function mintAppToken(
  keys: TokenKeys,
  opts: { roomId: string; role: string; userId?: string; validForSeconds?: number },
): Promise<string> {
  const validFor = opts.validForSeconds ?? 86400;
  if (!(validFor > 0 && validFor <= MAX_APP_SECONDS)) {
    throw new AppError("invalid_body", `app token validity must be 1..${MAX_APP_SECONDS} seconds (90 days)`);
  }
  const badChar = opts.userId === undefined ? null : findControlChar(opts.userId);
  if (badChar) throw new AppError("invalid_body", controlCharMessage("user_id", badChar));
  const claims: Record<string, unknown> = { type: "app", room_id: opts.roomId, role: opts.role };
  if (opts.userId !== undefined) claims.user_id = opts.userId;
  return sign(keys, claims, validFor);
}

function tokenError(status: 401 | 403, detail: string): AppError {
  return new AppError(status === 401 ? "unauthorized" : "forbidden", "Token validation error", { details: [detail] });
}

async function verify(keys: TokenKeys, token: string): Promise<JWTPayload> {
  try {
    const { payload } = await jwtVerify(token, secretOf(keys), { algorithms: ["HS256"], clockTolerance: CLOCK_TOLERANCE_SECONDS });
    return payload;
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) throw tokenError(401, "token expired");
    if (err instanceof joseErrors.JWSSignatureVerificationFailed)
      throw tokenError(401, "signature verification failed: token not signed with this app's secret");
    if (err instanceof joseErrors.JOSEAlgNotAllowed) throw tokenError(401, "token must be signed with HS256");
    if (err instanceof joseErrors.JWTClaimValidationFailed) throw tokenError(401, `claim ${err.claim}: ${err.reason}`);
    throw tokenError(401, "malformed token");
  }
}

/**
 * A token may not claim more than the documented validity for its type (14 days management, 90 days
 * app): `exp - iat`, or `exp - now` for a token without `iat` (accepted: not every JWT library sets it).
 * Nor may it be issued in the future beyond the clock skew. jose checks `exp` and `nbf` themselves.
 */
function checkTimes(payload: JWTPayload, type: TokenType): void {
  const now = Math.floor(Date.now() / 1000);
  const max = type === "management" ? MAX_MANAGEMENT_SECONDS : MAX_APP_SECONDS;
  const maxText = type === "management" ? "14 days" : "90 days";
  if (payload.iat !== undefined && payload.iat > now + CLOCK_TOLERANCE_SECONDS) {
    throw tokenError(
      401,
      `claim iat: token is issued ${payload.iat - now} s in the future (more than the ${CLOCK_TOLERANCE_SECONDS} s clock skew); check the minting machine's clock`,
    );
  }
  const exp = payload.exp as number;
  const lifetime = exp - (payload.iat ?? now);
  if (lifetime > max || exp - now > max + CLOCK_TOLERANCE_SECONDS) {
    throw tokenError(401, `claim exp: a ${type} token may be valid for at most ${max} s (${maxText}); this one claims ${lifetime} s`);
  }
}

function checkCommon(keys: TokenKeys, payload: JWTPayload, expected: TokenType): void {
  if (payload.access_key !== keys.accessKey) throw tokenError(401, "access_key does not match this app");
  if (payload.type !== expected) {
    throw tokenError(403, `a ${expected} token is required, this is ${payload.type ? `an ${String(payload.type)}` : "an untyped"} token`);
  }
  if (payload.version !== 2) throw tokenError(401, "version must be 2");
  if (payload.exp === undefined) throw tokenError(401, "token has no exp claim");
  checkTimes(payload, expected);
}

export async function verifyManagementToken(keys: TokenKeys, token: string): Promise<ManagementClaims> {
  const payload = await verify(keys, token);
  checkCommon(keys, payload, "management");
  return payload as ManagementClaims;
}

export async function verifyAppToken(keys: TokenKeys, token: string): Promise<AppClaims> {
  const payload = await verify(keys, token);
  checkCommon(keys, payload, "app");
  if (typeof payload.room_id !== "string" || typeof payload.role !== "string") throw tokenError(401, "app token needs room_id and role");
  // Room ids are 24-hex; anything else (a NUL byte, an SQL-looking string) never reaches the database.
  if (!/^[0-9a-f]{24}$/.test(payload.room_id)) throw tokenError(401, "room_id must be a room's 24-character hex id");
  if (payload.role.length === 0 || payload.role.length > 100 || findControlChar(payload.role))
    throw tokenError(401, "role must be a role name of 1 to 100 printable characters");
  if (payload.user_id !== undefined) {
    if (typeof payload.user_id !== "string") throw tokenError(401, "user_id must be a string");
    const code = findControlChar(payload.user_id);
    if (code) throw tokenError(401, controlCharMessage("user_id", code));
  }
  return payload as AppClaims;
}

/** `Authorization: Bearer <token>` → the token, or a 401 that says what is missing. */
export function bearerToken(header: string | undefined): string {
  if (!header)
    throw new AppError("unauthorized", "Authentication error", { details: ["missing header Authorization: Bearer <management token>"] });
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m)
    throw new AppError("unauthorized", "Authentication error", { details: ["Authorization header must be 'Bearer <management token>'"] });
  return m[1];
}
