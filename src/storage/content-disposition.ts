// `Content-Disposition: attachment` for a download named for people (RFC 6266): an ASCII `filename`
// fallback of safe characters only, and the real name as UTF-8 in `filename*` (RFC 5987 encoding).

/** A name safe as a file name anywhere: no control characters, path separators or characters Windows refuses. */
export function cleanFileName(name: string): string {
  const cleaned = name
    .replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, "")
    .replace(/[/\\:*?"<>|]/g, "-")
    .replace(/\s+/g, " ")
    .trim()
    .replace(/^\.+/, "");
  return [...(cleaned || "download")].slice(0, 180).join("");
}

/** The ASCII fallback: accents dropped, anything but letters, digits, space and `._-()` as `_`. */
function asciiFallback(name: string): string {
  return name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/[^A-Za-z0-9 ._()-]/g, "_");
}

/** RFC 5987 `value-chars`: percent-encoded UTF-8 of everything but the attr-chars. */
const rfc5987 = (s: string): string => encodeURIComponent(s).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** `attachment; filename="Sales call 2026-12-07 09-30.mp4"; filename*=UTF-8''Sales%20call…` */
export function attachmentDisposition(filename: string): string {
  const name = cleanFileName(filename);
  return `attachment; filename="${asciiFallback(name)}"; filename*=UTF-8''${rfc5987(name)}`;
}
