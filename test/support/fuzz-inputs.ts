import fc from "fast-check";
import { clip } from "./fuzz-run.ts";

// Generators of bad input for the fuzz suite. Bodies are produced as JSON *text*, not objects, so they
// can hold what JSON.stringify never writes: `__proto__` as an own key, duplicate keys, 50 000 levels
// of nesting, invalid JSON. Big values come from a few fixed sizes so shrinking them stays cheap.

export const PROTO_KEYS = ["__proto__", "constructor", "prototype"] as const;

const specialStrings = [
  ...PROTO_KEYS,
  "toString",
  "hasOwnProperty",
  "valueOf",
  "__defineGetter__",
  "",
  " ",
  "\t",
  "\u0000",
  "a\u0000b",
  "\uD800",
  "\uDFFF",
  "x\uDBFFy",
  "\u202Eevil\u202C",
  "\u2066rtl\u2069",
  "\u200B",
  "\uFEFF",
  "\u0085",
  "\u2028",
  "Ω≈ç√",
  "😀👨‍👩‍👧",
  "ｆｕｌｌｗｉｄｔｈ",
  "e\u0301",
  "../../etc/passwd",
  "..",
  ".",
  "/",
  "\\",
  "%00",
  "%",
  "null",
  "undefined",
  "NaN",
  "Infinity",
  "-1",
  "0",
  "1e309",
  "0x1f",
  "1_000",
  "true",
  "[]",
  "{}",
  "<script>alert(1)</script>",
  "'; DROP TABLE rooms; --",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection probe, sent as plain text
  "${7*7}",
  "{{7*7}}",
  "\r\nX-Injected: 1",
  "host",
  "guest",
  "__internal_recorder",
  "0".repeat(24),
  "f".repeat(24),
  "A".repeat(24),
  "2026-01-01T00:00:00Z",
  "http://127.0.0.1:1/x",
  "javascript:alert(1)",
];

/** Strings that break things: random code points, specials (prototype names, NUL, lone surrogates, bidi), or huge. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.string({ unit: "binary", maxLength: 40 }), weight: 3 },
  { arbitrary: fc.string({ unit: "grapheme", maxLength: 20 }), weight: 1 },
  { arbitrary: fc.constantFrom(...specialStrings), weight: 3 },
  // A NUL inside otherwise ordinary text: PostgreSQL refuses it in any text column.
  { arbitrary: fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })).map(([a, b]) => `${a}\u0000${b}`), weight: 1 },
  {
    arbitrary: fc
      .tuple(fc.constantFrom(101, 257, 5000, 70_000), fc.constantFrom("x", "é", "😀", "\u0000", "\uD800"))
      .map(([n, c]) => c.repeat(n)),
    weight: 1,
  },
);

const scalarText: fc.Arbitrary<string> = fc.oneof(
  nastyString.map((s) => JSON.stringify(s)),
  fc.constantFrom(
    "null",
    "true",
    "false",
    "0",
    "-1",
    "-0",
    "1.5",
    "1e308",
    "-1e308",
    "9007199254740993",
    "1e-400",
    "123456789012345678901234567890",
  ),
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
);

/** Deeply nested JSON: arrays, objects or both, at fixed depths (64 … 50 000). */
export const deepJsonText: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(64, 1000, 5000, 50_000), fc.constantFrom("array", "object", "mixed"))
  .map(([depth, kind]) => {
    const open = kind === "array" ? "[" : kind === "object" ? '{"a":' : '{"a":[';
    const close = kind === "array" ? "]" : kind === "object" ? "}" : "]}";
    return `${open.repeat(depth)}1${close.repeat(depth)}`;
  });

/** `{"__proto__": {...}}` and friends: what pollutes a prototype if anything merges it naively. */
export const protoJsonText: fc.Arbitrary<string> = fc.constantFrom(
  '{"__proto__":{"polluted":"yes","isAdmin":true,"enabled":false}}',
  '{"constructor":{"prototype":{"polluted":"yes"}}}',
  '{"__proto__":{"__proto__":{"polluted":"yes"}}}',
  '{"prototype":{"polluted":"yes"},"__proto__":null}',
  '{"__proto__":[1,2,3]}',
  '{"__proto__":"polluted"}',
);

/** Any JSON value as text, its object keys drawn from `fields` (the names the route uses) and from prototype names. */
export function jsonValueText(fields: string[]): fc.Arbitrary<string> {
  const key = fc.oneof(
    { arbitrary: fields.length ? fc.constantFrom(...fields) : fc.constant("name"), weight: 4 },
    { arbitrary: fc.constantFrom(...PROTO_KEYS), weight: 1 },
    { arbitrary: nastyString, weight: 1 },
  );
  const { value } = fc.letrec<{ value: string; array: string; object: string }>((tie) => ({
    value: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      { arbitrary: scalarText, weight: 5 },
      { arbitrary: tie("array"), weight: 1 },
      { arbitrary: tie("object"), weight: 2 },
      { arbitrary: protoJsonText, weight: 1 },
      { arbitrary: deepJsonText, weight: 1 },
    ),
    array: fc.array(tie("value"), { maxLength: 4 }).map((items) => `[${items.join(",")}]`),
    object: fc
      .array(fc.tuple(key, tie("value")), { maxLength: 5 })
      .map((pairs) => `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`),
  }));
  return value;
}

/** A JSON object (as text) with keys from `fields`, some repeated, values of every wrong type. */
export function jsonObjectText(fields: string[]): fc.Arbitrary<string> {
  const key = fc.oneof(
    { arbitrary: fc.constantFrom(...(fields.length ? fields : ["name"])), weight: 5 },
    { arbitrary: fc.constantFrom(...PROTO_KEYS), weight: 1 },
  );
  return fc
    .array(fc.tuple(key, jsonValueText(fields)), { maxLength: 6 })
    .map((pairs) => `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`);
}

const MARK = "\u0000fuzz-mark\u0000";

/** Every path into `base` (objects and arrays, a few levels deep), for mutating one place of a valid body. */
function pathsOf(
  base: unknown,
  prefix: Array<string | number> = [],
  depth = 0,
  out: Array<Array<string | number>> = [],
): Array<Array<string | number>> {
  out.push(prefix);
  if (depth >= 4 || !base || typeof base !== "object") return out;
  for (const [k, v] of Object.entries(base)) pathsOf(v, [...prefix, Array.isArray(base) ? Number(k) : k], depth + 1, out);
  return out;
}

/** An object or array: something a path can step into. */
const isContainer = (v: unknown): v is Record<string, unknown> | unknown[] => typeof v === "object" && v !== null;

/** The value at `path` inside `root` (undefined when the path leaves the tree). */
function valueAt(root: unknown, path: ReadonlyArray<string | number>): unknown {
  return path.reduce<unknown>((o, k) => (isContainer(o) ? (o as Record<string | number, unknown>)[k] : undefined), root);
}

/** `base` (a valid-looking body) with one place replaced by a bad value, removed, or given a bad extra key. */
export function mutatedBodyText(base: Record<string, unknown>, fields: string[]): fc.Arbitrary<string> {
  const paths = pathsOf(base);
  return fc
    .tuple(
      fc.constantFrom(...paths),
      fc.constantFrom("replace", "delete", "add"),
      fc.oneof(fc.constantFrom(...fields, ...PROTO_KEYS), nastyString),
      jsonValueText(fields),
    )
    .map(([path, op, newKey, valueText]) => {
      const copy = structuredClone(base) as Record<string, unknown>;
      const parent = valueAt(copy, path.slice(0, -1));
      const last = path.at(-1);
      const target = valueAt(copy, path);
      if (op === "replace" && last !== undefined && isContainer(parent)) (parent as Record<string | number, unknown>)[last] = MARK;
      else if (op === "delete" && last !== undefined && isContainer(parent)) {
        if (Array.isArray(parent)) parent.splice(Number(last), 1);
        else delete (parent as Record<string | number, unknown>)[last];
      } else if (target && typeof target === "object" && !Array.isArray(target))
        Object.defineProperty(target, newKey, { value: MARK, enumerable: true, configurable: true, writable: true });
      else if (Array.isArray(target)) target.push(MARK);
      else return valueText;
      return JSON.stringify(copy).replace(JSON.stringify(MARK), valueText);
    });
}

/** Text that is not JSON at all, or JSON with something wrong around it. */
export const invalidJsonText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "{",
    "}",
    "{'a':1}",
    '{"a":1,}',
    '{"a":}',
    "[1,]",
    "NaN",
    "undefined",
    "\uFEFF{}",
    '{"a":1}garbage',
    "\u0000",
    '{"a":"\\uZZZZ"}',
    '{"a":01}',
    "/* */{}",
    '{"a":1}\n{"b":2}',
  ),
  fc.string({ unit: "binary", maxLength: 30 }),
);

export interface BodyChoice {
  /** Content-Type to send, or null for none. */
  contentType: string | null;
  /** Body text, or null for no body. */
  text: string | null;
}

const bodyChoice = (contentType: string | null, text: string | null): BodyChoice => ({ contentType, text });

const otherContentTypes = [
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/xml",
  "application/octet-stream",
  "application/json; charset=utf-16",
  "application/json; charset=latin1",
  "APPLICATION/JSON",
  "application/json;;",
  "application/jsonp",
  "*/*",
  "garbage",
];

/** Everything a body can be wrong in: types, missing fields, size, depth, prototype keys, encoding, content type. */
export function bodyArb(fields: string[], base: Record<string, unknown> | null): fc.Arbitrary<BodyChoice> {
  const json = (a: fc.Arbitrary<string>) => a.map((t) => bodyChoice("application/json", t));
  const options: Array<fc.WeightedArbitrary<BodyChoice>> = [
    { arbitrary: json(jsonObjectText(fields)), weight: 5 },
    { arbitrary: json(jsonValueText(fields)), weight: 2 },
    { arbitrary: json(deepJsonText), weight: 1 },
    { arbitrary: json(protoJsonText), weight: 1 },
    { arbitrary: json(invalidJsonText), weight: 1 },
    // Over the 1 MiB body limit: a huge string field, and a huge array.
    { arbitrary: json(fc.constantFrom(`{"name":"${"x".repeat(1_100_000)}"}`, `[${"1,".repeat(600_000)}1]`)), weight: 1 },
    { arbitrary: fc.constant(bodyChoice(null, null)), weight: 1 },
    { arbitrary: fc.constant(bodyChoice("application/json", null)), weight: 1 },
    {
      arbitrary: fc
        .tuple(fc.constantFrom(...otherContentTypes), fc.oneof(jsonObjectText(fields), nastyString))
        .map(([ct, t]) => bodyChoice(ct, t)),
      weight: 2,
    },
  ];
  if (base) options.push({ arbitrary: json(mutatedBodyText(base, fields)), weight: 6 });
  return fc.oneof(...options);
}

/** A body as the failure report prints it (long texts cut). */
export const describeBody = (b: BodyChoice): string =>
  `${b.contentType ?? "(no content-type)"} ${b.text === null ? "(no body)" : clip(JSON.stringify(b.text), 300)}`;

/** Percent-encode every byte outside the unreserved set (lone surrogates become U+FFFD, as a browser would send them). */
export const encodeAll = (s: string): string =>
  [...Buffer.from(s, "utf8")]
    .map((b) =>
      /[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`,
    )
    .join("");

/** Raw (not percent-encoded) junk for a path segment or query value: bad escapes, encoded surrogates, separators. */
export const rawUrlJunk = [
  "%",
  "%zz",
  "%00",
  "%ff",
  "%c0%af",
  "%2e%2e",
  "%2F",
  "a%2Fb",
  "%E2%80%AE",
  "%ED%A0%80",
  "%uD800",
  ";",
  "*",
  "~",
  "%20",
  "+",
  "%0d%0a",
];

/** A path parameter: an existing id some of the time (so validators past the 404 run), else junk of every kind. */
export function pathParamArb(validValues: string[]): fc.Arbitrary<string> {
  const options: Array<fc.WeightedArbitrary<string>> = [
    // Within the router's 200-character parameter limit (malformedUrlArb goes past it).
    { arbitrary: nastyString.map(encodeAll).filter((s) => s.length <= 200), weight: 3 },
    { arbitrary: fc.constantFrom(24, 64, 199, 200).map((n) => "a".repeat(n)), weight: 1 },
    { arbitrary: fc.constantFrom("0".repeat(24), "f".repeat(24), "0".repeat(23), "g".repeat(24), "0".repeat(25)), weight: 1 },
  ];
  if (validValues.length) options.push({ arbitrary: fc.constantFrom(...validValues), weight: 4 });
  return fc.oneof(...options);
}

const queryValue: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: nastyString.map(encodeAll).filter((s) => s.length <= 6000), weight: 4 },
  {
    arbitrary: fc.constantFrom(
      "-1",
      "0",
      "1",
      "100",
      "101",
      "1e3",
      "1.5",
      "NaN",
      "Infinity",
      "true",
      "false",
      "asc",
      "desc",
      "9".repeat(400),
      "",
    ),
    weight: 3,
  },
  // Huge, yet within Node's 16 KiB limit on the request head (malformedUrlArb goes past it).
  { arbitrary: fc.constantFrom(2_000, 6_000).map((n) => "q".repeat(n)), weight: 1 },
);

/** A query string: known keys (the route's and its neighbours'), prototype names and junk, some repeated. */
export function queryArb(keys: string[]): fc.Arbitrary<string> {
  const key = fc.oneof(
    { arbitrary: fc.constantFrom(...keys), weight: 5 },
    { arbitrary: fc.constantFrom(...PROTO_KEYS, "limit[]", "a[b]", "__proto__[polluted]", "constructor[prototype][polluted]"), weight: 1 },
    { arbitrary: nastyString.filter((s) => s.length < 200).map(encodeAll), weight: 1 },
  );
  return fc
    .array(fc.tuple(key, queryValue, fc.boolean()), { maxLength: 6 })
    .map((pairs) => (pairs.length ? `?${pairs.map(([k, v, bare]) => (bare && v === "" ? k : `${encodeAll(k)}=${v}`)).join("&")}` : ""))
    .filter((q) => q.length <= 8000);
}

/**
 * A URL broken below the level of any one route, for any route: malformed percent-escapes in a path
 * segment or the query, a path parameter over the router's 200-character limit, and a request head
 * over Node's 16 KiB limit (a huge path or query).
 */
export function malformedUrlArb(urls: string[]): fc.Arbitrary<string> {
  const fill = (url: string, value: string) => url.replace(/:[a-z_]+/g, value);
  return fc.oneof(
    fc.tuple(fc.constantFrom(...urls), fc.constantFrom(...rawUrlJunk)).map(([u, j]) => fill(u.includes(":") ? u : `${u}/:x`, j)),
    fc.tuple(fc.constantFrom(...urls), fc.constantFrom(...rawUrlJunk)).map(([u, j]) => `${fill(u, "0".repeat(24))}?limit=${j}&${j}=1`),
    fc
      .tuple(fc.constantFrom(...urls.filter((u) => u.includes(":"))), fc.constantFrom(201, 1000, 5000))
      .map(([u, n]) => fill(u, "a".repeat(n))),
    fc
      .tuple(fc.constantFrom(...urls), fc.constantFrom(17_000, 70_000))
      .map(([u, n]) => `${fill(u, "0".repeat(24))}?start=${"q".repeat(n)}`),
    fc.tuple(fc.constantFrom(...urls), fc.constantFrom(17_000, 70_000)).map(([u, n]) => `${u.replace(/\/?$/, "/")}${"a".repeat(n)}`),
  );
}
