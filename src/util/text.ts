// Text people see (display names, user ids, chat) may be any real Unicode, but not control characters:
// C0/C1 controls (NUL, BEL, ESC…) corrupt logs and CSVs, and bidi embedding/override/isolate marks
// (U+202A–U+202E, U+2066–U+2069) make "exe.txt" read as "txt.exe". An unpaired UTF-16 surrogate is no
// text at all (the `u` flag reads a pair as one code point, so only a lone half matches). Such text is
// refused, not silently changed.

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\ud800-\udfff]/u;
// eslint-disable-next-line no-control-regex
const CONTROL_EXCEPT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\ud800-\udfff]/u;

/** The first forbidden character in `s` as `U+XXXX`, or null. `multiline` allows \n (chat messages). */
export function findControlChar(s: string, multiline = false): string | null {
  const m = (multiline ? CONTROL_EXCEPT_NEWLINE : CONTROL).exec(s);
  return m ? `U+${m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}` : null;
}

/** Message for a refusal, e.g. `name contains a control character (U+0007); use printable text`. */
export const controlCharMessage = (field: string, code: string): string =>
  `${field} contains a control or bidi-override character (${code}); use printable text`;
