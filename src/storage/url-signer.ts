import { createHmac, timingSafeEqual } from "node:crypto";

// Download links of the internal bucket: `?expires=<unix seconds>&signature=<hex HMAC-SHA256>` over
// `"<key>\n<expires>"`, keyed with the app's `urlSigningKey`. Pure; unit-tested.

export type SignatureCheck = "ok" | "missing" | "expired" | "bad_signature";

/** `filename` (a link that names its download) is signed too: `"<key>\n<expires>\n<filename>"`. */
export function signKey(signingKey: string, key: string, expires: number, filename?: string): string {
  return createHmac("sha256", signingKey)
    .update(`${key}\n${expires}${filename === undefined ? "" : `\n${filename}`}`)
    .digest("hex");
}

export function checkSignature(args: {
  signingKey: string;
  key: string;
  expires: string | undefined;
  signature: string | undefined;
  filename?: string;
  nowSeconds?: number;
}): SignatureCheck {
  const { expires, signature } = args;
  if (!expires || !signature) return "missing";
  if (!/^\d{1,12}$/.test(expires) || !/^[0-9a-f]{64}$/.test(signature)) return "bad_signature";
  const expected = Buffer.from(signKey(args.signingKey, args.key, Number(expires), args.filename), "hex");
  // The signature is checked before the expiry, so an expired link is reported as expired only when genuine.
  if (!timingSafeEqual(expected, Buffer.from(signature, "hex"))) return "bad_signature";
  const now = args.nowSeconds ?? Math.floor(Date.now() / 1000);
  return Number(expires) < now ? "expired" : "ok";
}

/** `a/b c.mp4` → `a/b%20c.mp4`: each segment encoded, slashes kept. */
export const encodeKeyPath = (key: string): string => key.split("/").map(encodeURIComponent).join("/");
