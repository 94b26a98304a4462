// One HTTP POST to a receiver, reduced to what the delivery log keeps: status, a short excerpt of
// the answer, or a plain-words error ("connection refused"). This is the one adapter around the HTTP
// client, so it is the one place that looks at error codes. It uses node:http with the outbound
// policy's agent (src/net/outbound-policy.ts): every connection's address is checked after DNS
// resolution, a refused one fails the attempt before anything is sent, and redirects are not followed.
import http from "node:http";
import https from "node:https";
import { DEFAULT_OUTBOUND_POLICY, OUTBOUND_REFUSED_CODE, type OutboundPolicy } from "../net/outbound-policy.ts";

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

export function postJson(
  url: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  policy: OutboundPolicy = DEFAULT_OUTBOUND_POLICY,
): Promise<PostResult> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return resolve({ status: null, error: "invalid URL", excerpt: null, durationMs: ms() });
    }
    const secure = target.protocol === "https:";
    let settled = false;
    let res: http.IncomingMessage | undefined;
    let ended = false;
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (error: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!ended) req.destroy(); // a complete answer leaves the socket to the agent's keep-alive pool
      if (!res) return resolve({ status: null, error: error ?? "no response", excerpt: null, durationMs: ms() });
      const text = Buffer.concat(chunks).toString("utf8").replace(/\s+/g, " ").trim();
      const status = res.statusCode ?? 0;
      const ok = status >= 200 && status < 300;
      resolve({
        status,
        error: ok ? null : (error ?? `HTTP ${status}`),
        excerpt: text ? text.slice(0, EXCERPT_CHARS) : null,
        durationMs: ms(),
      });
    };
    const timeout = Object.assign(new Error("timed out"), { name: "TimeoutError" });
    const timer = setTimeout(() => finish(describeFetchError(timeout, timeoutMs)), timeoutMs);
    const req = (secure ? https : http).request(target, {
      method: "POST",
      headers: { ...headers, "Content-Length": String(Buffer.byteLength(body)) },
      agent: policy.agent(target.protocol),
    });
    req.on("error", (err) => finish(describeFetchError(err, timeoutMs)));
    req.on("response", (r) => {
      res = r;
      r.on("data", (c: Buffer) => {
        chunks.push(c);
        size += c.length;
        if (size >= READ_LIMIT_BYTES) finish(null);
      });
      r.on("end", () => {
        ended = true;
        finish(null);
      });
      r.on("error", (err) => finish(describeFetchError(err, timeoutMs)));
      r.on("aborted", () => finish("connection closed by the receiver"));
    });
    req.end(body);
  });
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
  HPE_HEADER_OVERFLOW: "response headers too large",
  HPE_INVALID_CONSTANT: "not an HTTP response",
};

export function describeFetchError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; code?: string; cause?: { code?: string; message?: string; name?: string } };
  if (e?.name === "TimeoutError" || e?.name === "AbortError" || e?.cause?.name === "TimeoutError") return `timed out after ${timeoutMs} ms`;
  const code = e?.cause?.code ?? e?.code;
  // The outbound policy's refusal already says what, why and how to change it.
  if (code === OUTBOUND_REFUSED_CODE) return (e?.cause?.message ?? e?.message ?? "refused by the outbound policy").slice(0, 500);
  if (code && CODE_TEXT[code]) return CODE_TEXT[code];
  if (code && (code.startsWith("CERT_") || code.startsWith("ERR_TLS") || code.includes("CERT") || code.startsWith("ERR_SSL")))
    return `TLS error: ${code}`;
  const message = (e?.cause?.message ?? e?.message ?? String(err)).slice(0, 200);
  return code ? `${code}: ${message}` : message;
}
