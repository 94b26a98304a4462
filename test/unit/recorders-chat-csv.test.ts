import assert from "node:assert/strict";
import { test } from "node:test";
import {
  buildChatCsv,
  csvField,
  formatRoles,
  protectSpreadsheetField,
  unescapeSpreadsheetField,
  type ChatCsvRow,
} from "../../src/recorders/chat/chat-csv.ts";

/** A strict RFC 4180 reader: CRLF records, quoted fields with doubled quotes; throws on anything else. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let i = 0;
  for (;;) {
    let field = "";
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new Error("unterminated quoted field");
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i++];
      }
    } else {
      while (i < text.length && text[i] !== "," && text[i] !== "\r" && text[i] !== "\n") {
        if (text[i] === '"') throw new Error(`bare quote at ${i}`);
        field += text[i++];
      }
    }
    row.push(field);
    if (text[i] === ",") {
      i++;
      continue;
    }
    if (text.startsWith("\r\n", i)) {
      rows.push(row);
      row = [];
      i += 2;
      if (i === text.length) return rows;
      continue;
    }
    throw new Error(`expected , or CRLF at ${i}, found ${JSON.stringify(text.slice(i, i + 5))}`);
  }
}

const row = (message: string, extra: Partial<ChatCsvRow> = {}): ChatCsvRow => ({
  sender_peer_id: "peer-1",
  sender_name: "Alice",
  sender_user_id: "user-1",
  roles: [],
  sent_at: "2024-05-01T10:00:00.123Z",
  message,
  ...extra,
});

const NASTY = [
  "plain",
  "comma, inside",
  'say "hi"',
  '"',
  "",
  "line one\nline two",
  "crlf\r\nlone cr\rend",
  "trailing comma,",
  "emoji 🎉👩‍👩‍👧 and ZWJ",
  "עברית ומילים RTL ‏mixed‏ العربية",
  "combining é (e + U+0301) and 漢字",
  "=cmd|' /C calc'!A0",
  "+SUM(A1:A2)",
  "-2+3",
  "@SUM(1)",
  "\tTAB first",
  "'already quoted",
  "  leading spaces kept  ",
  "\u0000 nul and \u2028 line separator",
];

test("header, Roles [] for everyone, Type chat, CRLF, no BOM", () => {
  const csv = buildChatCsv([row("hello")]);
  assert.equal(
    csv,
    "SenderPeerID,SenderName,SenderUserID,Roles,SentAt,Type,Message\r\npeer-1,Alice,user-1,[],2024-05-01T10:00:00.123Z,chat,hello\r\n",
  );
  assert.notEqual(csv.charCodeAt(0), 0xfeff);
});

test("an empty chat is the header alone", () => {
  assert.equal(buildChatCsv([]), "SenderPeerID,SenderName,SenderUserID,Roles,SentAt,Type,Message\r\n");
});

test("roles print the way Go prints a []string", () => {
  assert.equal(formatRoles([]), "[]");
  assert.equal(formatRoles(["host"]), "[host]");
  assert.equal(formatRoles(["host", "guest"]), "[host guest]");
  const [, line] = parseCsv(buildChatCsv([row("x", { roles: ["host", "guest"] })]));
  assert.equal(line[3], "[host guest]");
});

test("direct messages are dropped", () => {
  const csv = buildChatCsv([
    row("to all"),
    row("secret", { to_peer_id: "peer-2" }),
    row("to hosts", { roles: ["host"], to_peer_id: null }),
  ]);
  const rows = parseCsv(csv);
  assert.deepEqual(
    rows.slice(1).map((r) => r[6]),
    ["to all", "to hosts"],
  );
  assert.ok(!csv.includes("secret"));
});

test("RFC 4180 quoting: only fields that need it, quotes doubled", () => {
  assert.equal(csvField("plain"), "plain");
  assert.equal(csvField("a,b"), '"a,b"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField("a\nb"), '"a\nb"');
  assert.equal(csvField("a\rb"), '"a\rb"');
  assert.equal(csvField("🎉"), "🎉");
});

test("formula triggers get a leading quote, reversibly", () => {
  for (const s of ["=1+1", "+1", "-1", "@A1", "\tx", "\rx"]) assert.equal(protectSpreadsheetField(s), `'${s}`);
  assert.equal(protectSpreadsheetField("'x"), "''x");
  assert.equal(protectSpreadsheetField("a=1"), "a=1");
  assert.equal(protectSpreadsheetField("[]"), "[]");
  for (const s of NASTY) assert.equal(unescapeSpreadsheetField(protectSpreadsheetField(s)), s);
  const [, line] = parseCsv(buildChatCsv([row('=HYPERLINK("http://evil","x")', { sender_name: "=cmd" })]));
  assert.equal(line[1], "'=cmd");
  assert.equal(line[6], '\'=HYPERLINK("http://evil","x")');
});

test("nasty content survives a round trip through a strict RFC 4180 reader", () => {
  const rows = NASTY.map((m, i) =>
    row(m, {
      sender_name: NASTY[(i + 3) % NASTY.length],
      sender_user_id: NASTY[(i + 7) % NASTY.length],
      roles: i % 2 ? ["host", "guest"] : [],
    }),
  );
  const csv = buildChatCsv(rows);
  const parsed = parseCsv(csv);
  assert.equal(parsed.length, rows.length + 1);
  assert.deepEqual(parsed[0], ["SenderPeerID", "SenderName", "SenderUserID", "Roles", "SentAt", "Type", "Message"]);
  parsed.slice(1).forEach((fields, i) => {
    assert.equal(fields.length, 7, `row ${i} has 7 fields`);
    const [peer, name, user, roles, sentAt, type, message] = fields.map(unescapeSpreadsheetField);
    assert.deepEqual(
      [peer, name, user, roles, sentAt, type, message],
      [
        rows[i].sender_peer_id,
        rows[i].sender_name,
        rows[i].sender_user_id,
        i % 2 ? "[host guest]" : "[]",
        rows[i].sent_at,
        "chat",
        rows[i].message,
      ],
    );
  });
  // Nothing outside a quoted field breaks a record: every record ends with CRLF and no bare LF or CR.
  assert.ok(Buffer.from(csv, "utf8").toString("utf8") === csv, "valid UTF-8 all the way");
});
