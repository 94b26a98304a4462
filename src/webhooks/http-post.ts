// One HTTP POST to a receiver, reduced to what the delivery log keeps: status, a short excerpt of
// the answer, or a plain-words error ("connection refused"). This is the one adapter around fetch,
// so it is the one place that looks at error codes.

export interface PostResult {
  /** HTTP status, or null when no response arrived. */
  status: number | null;
  /** Why no (acceptable) response: null on a 2xx. */
  error: string | null;
  /** The start of the response body, for the log. */
  excerpt: string | null;
  durationMs: number;
}

const EXCERPT_CHARS = 256;
const READ_LIMIT_BYTES = 2048;

export async function postJson(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<PostResult> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  const signal = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await fetch(url, { method: "POST", headers, body, redirect: "manual", signal });
  } catch (err) {
    return { status: null, error: describeFetchError(err, timeoutMs), excerpt: null, durationMs: ms() };
  }
  let excerpt: string | null = null;
  let readError: string | null = null;
  try {
    excerpt = await readExcerpt(res);
  } catch (err) {
    readError = describeFetchError(err, timeoutMs);
  }
  const ok = res.status >= 200 && res.status < 300;
  const error = ok ? null : readError ?? `HTTP ${res.status}`;
  return { status: res.status, error, excerpt, durationMs: ms() };
}

async function readExcerpt(res: Response): Promise<string | null> {
  if (!res.body) return null;
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < READ_LIMIT_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const text = Buffer.concat(chunks).toString("utf8").replace(/\s+/g, " ").trim();
  return text ? text.slice(0, EXCERPT_CHARS) : null;
}

const CODE_TEXT: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EPIPE: "connection reset",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host not found (DNS lookup failed)",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connect timed out",
  UND_ERR_CONNECT_TIMEOUT: "connect timed out",
  UND_ERR_SOCKET: "connection closed by the receiver",
  UND_ERR_HEADERS_OVERFLOW: "response headers too large",
};

export function describeFetchError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; code?: string; cause?: { code?: string; message?: string; name?: string } };
  if (e?.name === "TimeoutError" || e?.name === "AbortError" || e?.cause?.name === "TimeoutError") return `timed out after ${timeoutMs} ms`;
  const code = e?.cause?.code ?? e?.code;
  if (code && CODE_TEXT[code]) return CODE_TEXT[code];
  if (code && (code.startsWith("CERT_") || code.startsWith("ERR_TLS") || code.includes("CERT") || code.startsWith("ERR_SSL"))) return `TLS error: ${code}`;
  const message = (e?.cause?.message ?? e?.message ?? String(err)).slice(0, 200);
  return code ? `${code}: ${message}` : message;
}
