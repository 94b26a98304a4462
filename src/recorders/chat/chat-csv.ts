// The chat recording: messages to everyone or to roles, as CSV. Pure: no I/O, unit-tested.
//
// Choices, where the 100ms reference says only "header …, Roles [] for all, SentAt RFC 3339, Type chat":
// - Roles: `[]` for everyone, otherwise the role names as Go prints a []string (`[host guest]`):
//   100ms's backend is Go and its `[]` for "all roles" is exactly what fmt prints for an empty slice.
//   Role names cannot contain spaces (template role names are `[a-zA-Z0-9.:_-]`), so this is unambiguous.
// - SentAt: as stored (ISO 8601 in UTC with milliseconds, `2024-05-01T10:00:00.123Z`), a valid RFC 3339
//   timestamp.
// - Escaping: RFC 4180. Fields containing a comma, a double quote, CR or LF are quoted and their quotes
//   doubled; every other character, any Unicode (emoji, RTL text, combining marks), is written as is.
//   Lines end with CRLF, as RFC 4180 says.
// - No byte order mark: consumers that read the header byte for byte (most code, and anything written
//   against 100ms's files) would see `\uFEFFSenderPeerID`. The cost: old Excel versions opening the
//   file by double-click guess a legacy encoding for non-ASCII text (its "From Text/CSV" import, and
//   every other spreadsheet, reads UTF-8 fine).
// - Formula injection: spreadsheets run a cell that starts with `=`, `+`, `-` or `@` (and Excel also
//   after a leading tab or CR) as a formula, and any room participant controls the name and the message.
//   Such a field is written with a `'` in front, which spreadsheets show as text. To keep it reversible,
//   a field that itself starts with `'` gets one more: a program wanting the exact text removes one
//   leading `'` when there is one (unescapeSpreadsheetField). 100ms's own files do not do this; we take
//   the safety over byte-for-byte sameness.
// - Direct messages (to_peer_id set) are never recorded; rows carrying one are dropped here too.

export const CHAT_CSV_HEADER = ["SenderPeerID", "SenderName", "SenderUserID", "Roles", "SentAt", "Type", "Message"] as const;

export interface ChatCsvRow {
  sender_peer_id: string;
  sender_name: string;
  sender_user_id: string;
  /** Target roles; empty = everyone. */
  roles: string[];
  sent_at: string;
  message: string;
  /** Set on a direct message (dropped). */
  to_peer_id?: string | null;
}

const FORMULA_START = /^[=+\-@\t\r']/;

/** Neutralises a field a spreadsheet would run as a formula (see above). */
export function protectSpreadsheetField(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

/** The exact text back from a field written by protectSpreadsheetField. */
export function unescapeSpreadsheetField(value: string): string {
  return value.startsWith("'") ? value.slice(1) : value;
}

/** One RFC 4180 field. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** Roles as Go's fmt prints a []string: `[]`, `[host]`, `[host guest]`. */
export function formatRoles(roles: readonly string[]): string {
  return `[${roles.join(" ")}]`;
}

const line = (fields: readonly string[]): string => `${fields.map((f) => csvField(protectSpreadsheetField(f))).join(",")}\r\n`;

/** The chat CSV: header, then one line per message to everyone or to roles, in the given order. */
export function buildChatCsv(rows: readonly ChatCsvRow[]): string {
  let out = line(CHAT_CSV_HEADER);
  for (const r of rows) {
    if (r.to_peer_id) continue;
    out += line([r.sender_peer_id, r.sender_name, r.sender_user_id, formatRoles(r.roles), r.sent_at, "chat", r.message]);
  }
  return out;
}
