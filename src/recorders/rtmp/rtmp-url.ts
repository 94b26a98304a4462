import { AppError } from "../../errors.ts";
import { OutboundRefusedError, type OutboundPolicy } from "../../net/outbound-policy.ts";

// RTMP destination URLs: what the API accepts, and how they are shown in logs. An RTMP URL ends in the
// platform's stream key, a secret (anyone holding it can stream to the channel), so no log line, error
// message or failure text holds a whole one: they show `redactRtmpUrl` (scheme, host, port and app, the
// key as `***`, no user info, no query). The API answers and the webhooks carry the URLs as given, as
// 100ms does: they go to the app that gave them, over its own authenticated channels.

export const RTMP_SCHEMES = ["rtmp:", "rtmps:"] as const;
/** 100ms: up to 3 URLs (the beam API and the external-streams overview; its start page says 5). */
export const MAX_RTMP_URLS = 3;
export const MAX_RTMP_URL_LENGTH = 2048;

/** `rtmp://host:port/app/***`: the URL without its stream key (last path segment), user info and query. */
export function redactRtmpUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return "(invalid RTMP URL)";
  }
  const segments = u.pathname.split("/");
  const last = segments.length - 1;
  if (segments[last]) segments[last] = "***";
  else if (last > 1 && segments[last - 1]) segments[last - 1] = "***";
  return `${u.protocol}//${u.host}${segments.join("/")}`;
}

/** What is wrong with one RTMP URL (the problems name it by its position and redacted form), none when fine. */
export function rtmpUrlProblems(url: string, index: number): string[] {
  const name = `rtmp_urls[${index}]`;
  if (url.length > MAX_RTMP_URL_LENGTH) return [`${name} is over ${MAX_RTMP_URL_LENGTH} characters`];
  // ffmpeg takes the URL as one argument: control characters and spaces have no place in it.
  if (/[\s\u0000-\u001f\u007f]/.test(url)) return [`${name} contains spaces or control characters`];
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return [`${name} is not a URL (expected rtmp://server/app/STREAM_KEY or rtmps://…)`];
  }
  const shown = redactRtmpUrl(url);
  if (!(RTMP_SCHEMES as readonly string[]).includes(u.protocol)) return [`${name} (${u.protocol}//…) must be an rtmp:// or rtmps:// URL`];
  if (!u.hostname) return [`${name} (${shown}) has no host`];
  if (u.username || u.password) return [`${name} (${shown}) must not carry user:password@; put credentials in the stream key`];
  if (u.pathname.split("/").filter(Boolean).length < 2)
    return [`${name} (${shown}) must have an application and a stream key: rtmp://server/app/STREAM_KEY`];
  return [];
}

/** 400 unless `urls` are 1..MAX_RTMP_URLS valid, distinct RTMP URLs. */
export function checkRtmpUrls(urls: string[], field = "rtmp_urls"): void {
  const problems: string[] = [];
  if (urls.length === 0) problems.push(`${field} must hold at least one rtmp:// or rtmps:// URL`);
  if (urls.length > MAX_RTMP_URLS) problems.push(`${field} holds ${urls.length} URLs; at most ${MAX_RTMP_URLS} are supported`);
  urls.forEach((u, i) => problems.push(...rtmpUrlProblems(u, i)));
  if (new Set(urls).size !== urls.length) problems.push(`${field} lists the same URL twice`);
  if (problems.length) throw new AppError("invalid_body", `${field} invalid`, { details: problems });
}

/** 400 when an URL's host is, or resolves now to, an address the outbound policy refuses (each push checks again). */
export async function checkRtmpTargets(urls: string[], policy: OutboundPolicy): Promise<void> {
  for (const [i, url] of urls.entries()) {
    const host = new URL(url).hostname;
    try {
      await policy.resolveChecked(host);
    } catch (err) {
      if (!(err instanceof OutboundRefusedError)) continue; // not resolvable now: the push says so
      const v = err.verdict;
      throw new AppError(
        "invalid_body",
        `rtmp_urls[${i}] ${redactRtmpUrl(url)} goes to ${v.address}, refused by the outbound policy (${v.rule}); ${v.fix}`,
        { details: [`rtmp_urls[${i}]: address ${v.address} refused by rule ${v.rule}`] },
      );
    }
  }
}
