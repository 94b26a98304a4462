import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { SignJWT } from "jose";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { clientMessageSchema } from "../../src/sfu/protocol.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import {
  deepJsonText,
  invalidJsonText,
  jsonValueText,
  mutatedBodyText,
  nastyString,
  PROTO_KEYS,
  protoJsonText,
} from "../support/fuzz-inputs.ts";
import {
  FUZZ_RUNS,
  FUZZ_SEED,
  assertProperty,
  clip,
  guardOutboundLookups,
  prototypePollution,
  snapshotPrototypes,
} from "../support/fuzz-run.ts";
import { SignalClient } from "../support/signal-client.ts";
import type { Room, Template } from "../support/api-types.ts";

// Property-based fuzzing of the signalling WebSocket (/sfu/ws): every client message type, read from
// protocol.ts's schema (a new type is fuzzed without editing this file), plus unknown types, non-JSON,
// binary and oversized frames, sent before and after a valid join. Every error frame must be a 4xx
// (never 500 / internal), a close must carry a documented code, and a fresh peer must still be able to
// join afterwards. Seeded: FUZZ_SEED replays a failure, FUZZ_RUNS scales; PostgreSQL unless FUZZ_DIALECT=sqlite.

type Frame = { binary: boolean; data: string | Uint8Array };

/** Close codes the server documents: normal, going away, policy/too big (the ws library), 4000 + an error frame's 4xx code. */
const DOCUMENTED_CLOSE = (code: number) => [1000, 1001, 1008, 1009].includes(code) || (code >= 4400 && code < 4500);

const types = clientMessageSchema.options.map((o) => (o.shape.type as unknown as { value: string }).value);
const fieldsByType = Object.fromEntries(
  clientMessageSchema.options.map((o) => [(o.shape.type as unknown as { value: string }).value, Object.keys(o.shape)]),
);
const allFields = [...new Set(Object.values(fieldsByType).flat())];

const sdpLines = [
  "v=0",
  "o=- 0 0 IN IP4 127.0.0.1",
  "s=-",
  "t=0 0",
  "m=audio 9 UDP/TLS/RTP/SAVPF 111",
  "m=video 9 UDP/TLS/RTP/SAVPF 96",
  "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
  "a=mid:0",
  "a=mid:1",
  "a=mid:",
  "a=sendonly",
  "a=recvonly",
  "a=rtpmap:111 opus/48000/2",
  "a=rtpmap:96 VP8/90000",
  "a=fingerprint:sha-256 00:11",
  "a=setup:actpass",
  "a=ice-ufrag:x",
  "a=ice-pwd:y",
  "c=IN IP4 0.0.0.0",
  "a=group:BUNDLE 0 1",
  "a=ssrc:1 cname:x",
  "a=candidate:1 1 udp 1 127.0.0.1 9 typ host",
  "a=rtcp-mux",
  "m=",
  "a=",
];

/** Garbled SDP: random text, or SDP-looking lines in any order with junk among them. */
const sdpArb: fc.Arbitrary<string> = fc.oneof(
  nastyString,
  fc
    .tuple(
      fc.array(
        fc.oneof(
          fc.constantFrom(...sdpLines),
          nastyString.filter((s) => s.length < 100),
        ),
        { maxLength: 14 },
      ),
      fc.constantFrom("\r\n", "\n", "\r"),
    )
    .map(([lines, eol]) => ["v=0", ...lines].join(eol) + eol),
);

const trackArb = fc.record({
  mid: fc.oneof(fc.constantFrom("0", "1", "7"), nastyString),
  track_id: fc.oneof(fc.constantFrom("t1", "t2"), nastyString),
  stream_id: fc.oneof(fc.constant("s1"), nastyString),
  kind: fc.oneof(fc.constantFrom("audio", "video"), nastyString),
  source: fc.oneof(fc.constantFrom("camera", "microphone", "screen"), nastyString),
});

describe("fuzz: signalling answers bad messages with 4xx error frames and keeps serving", () => {
  let app: TestApp;
  let roomId: string;
  const guard = guardOutboundLookups();
  const prototypesBefore = snapshotPrototypes();
  /** App tokens good and bad: valid roles, prototype names as roles, unknown rooms, control characters in user_id. */
  const tokens: Record<string, string> = {};

  before(async () => {
    // Limits raised so generated chat gets past the rate limiter to the validators behind it, and so a
    // busy test machine rarely makes the SFU refuse publishers for CPU (a 503 frame, accepted below).
    app = await startTestApp({
      dialect: process.env.FUZZ_DIALECT === "sqlite" ? "sqlite" : "postgres",
      env: {
        TAPEDECK_ROLES: "api,sfu",
        TAPEDECK_CHAT_PER_SECOND: "1000",
        TAPEDECK_CHAT_BURST: "10000",
        TAPEDECK_FLOOD_STRIKES: "10000",
      },
    });
    const template = await app.api<Template>("POST", "/v2/templates", {
      name: "fuzz-signal",
      roles: {
        host: { subscribeParams: { subscribeToRoles: ["host", "guest"] } },
        guest: { publishParams: { allowed: ["audio"] }, subscribeParams: { subscribeToRoles: ["host"] } },
      },
    });
    roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "fuzz-signal-room", template_id: template.body.id })).body.id;
    tokens.host = await mintAppToken(app.ctx.identity, { roomId, role: "host", userId: "fuzz-host" });
    tokens.guest = await mintAppToken(app.ctx.identity, { roomId, role: "guest", userId: "fuzz-guest" });
    // Signed here rather than minted, so the claims can be anything the minting code would refuse.
    const now = Math.floor(Date.now() / 1000);
    const sign = (claims: Record<string, unknown>, secret = app.ctx.identity.appSecret, exp = now + 3600) =>
      new SignJWT({ access_key: app.ctx.identity.accessKey, type: "app", version: 2, room_id: roomId, role: "host", ...claims })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setIssuedAt(now - 10)
        .setNotBefore(now - 10)
        .setExpirationTime(exp)
        .setJti(crypto.randomUUID())
        .sign(new TextEncoder().encode(secret));
    for (const role of [
      "__proto__",
      "constructor",
      "toString",
      "hasOwnProperty",
      "janitor",
      "__internal_recorder",
      "",
      42,
      null,
      ["host"],
      { host: 1 },
    ]) {
      tokens[`role ${JSON.stringify(role)}`] = await sign({ role });
    }
    for (const room of ["0".repeat(24), "__proto__", "constructor", "", "a\u0000b", 42, null])
      tokens[`room_id ${JSON.stringify(room)}`] = await sign({ room_id: room });
    for (const user of ["a\u0000\u202Eb", "\uD800", "x".repeat(5000), 42, ["u"]])
      tokens[`user_id ${clip(JSON.stringify(user), 40)}`] = await sign({ user_id: user });
    tokens["type management"] = await sign({ type: "management" });
    tokens["no type"] = await sign({ type: undefined });
    tokens["access_key of another app"] = await sign({ access_key: "someone-else" });
    tokens["other secret"] = await sign({}, "not-the-app-secret-at-all");
    tokens.expired = await sign({}, app.ctx.identity.appSecret, now - 60);
    const header = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url");
    tokens["alg none"] =
      `${header}.${Buffer.from(JSON.stringify({ type: "app", room_id: roomId, role: "host", exp: now + 3600 })).toString("base64url")}.`;
    tokens["three dots"] = "a.b.c";
  });
  after(async () => {
    guard.restore();
    await app?.close();
  });

  /** A message of each known type, valid where it can be, for mutations to start from. */
  const baseMessages = (): Record<string, Record<string, unknown>> => ({
    join: { type: "join", token: tokens.host, name: "Fuzz", user_data: '{"a":1}' },
    publish: {
      type: "publish",
      sdp: "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n",
      tracks: [{ mid: "0", track_id: "t1", stream_id: "s1", kind: "audio", source: "microphone" }],
    },
    "subscribe-answer": { type: "subscribe-answer", sdp: "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n" },
    chat: { type: "chat", message: "hello", roles: ["host"], peer_id: "nobody" },
    leave: { type: "leave" },
    ping: { type: "ping" },
  });

  function frameArb(): fc.Arbitrary<Frame> {
    const bases = baseMessages();
    const text = (a: fc.Arbitrary<string>) => a.map((data): Frame => ({ binary: false, data }));
    const typeText = fc.oneof(
      { arbitrary: fc.constantFrom(...types).map((t) => JSON.stringify(t)), weight: 4 },
      { arbitrary: nastyString.map((s) => JSON.stringify(s)), weight: 1 },
      { arbitrary: fc.constantFrom("1", "null", "true", '["chat"]', '{"type":"chat"}', '"CHAT"', '"chat "'), weight: 1 },
    );
    const messageText = fc
      .tuple(
        fc.option(typeText, { nil: undefined, freq: 8 }),
        fc.array(fc.tuple(fc.constantFrom(...allFields, ...PROTO_KEYS), jsonValueText(allFields)), { maxLength: 5 }),
      )
      .map(
        ([type, pairs]) => `{${[...(type ? [`"type":${type}`] : []), ...pairs.map(([k, v]) => `${JSON.stringify(k)}:${v}`)].join(",")}}`,
      );
    const sdpMessage = fc.oneof(
      fc.tuple(sdpArb, fc.array(trackArb, { maxLength: 3 })).map(([sdp, tracks]) => JSON.stringify({ type: "publish", sdp, tracks })),
      sdpArb.map((sdp) => JSON.stringify({ type: "subscribe-answer", sdp })),
    );
    const typesWithBase = types.filter((t) => bases[t]);
    const mutated = fc.constantFrom(...typesWithBase).chain((t) => mutatedBodyText(bases[t], allFields));
    const chatText = fc.oneof(
      nastyString,
      fc.constantFrom(4096, 4097, 65_536, 70_000).map((n) => "é".repeat(n / 2)),
    );
    return fc.oneof(
      { arbitrary: text(messageText), weight: 5 },
      { arbitrary: text(mutated), weight: 5 },
      { arbitrary: text(sdpMessage), weight: 3 },
      { arbitrary: text(chatText.map((message) => JSON.stringify({ type: "chat", message }))), weight: 2 },
      { arbitrary: text(fc.oneof(invalidJsonText, deepJsonText, protoJsonText, fc.constant(""))), weight: 2 },
      { arbitrary: fc.uint8Array({ maxLength: 64 }).map((data): Frame => ({ binary: true, data })), weight: 1 },
      // Over the 256 KiB frame limit: the ws library closes the socket (1009).
      {
        arbitrary: fc.constantFrom<Frame>(
          { binary: false, data: `{"type":"chat","message":"${"x".repeat(300_000)}"}` },
          { binary: true, data: new Uint8Array(300_000) },
        ),
        weight: 1,
      },
    );
  }

  const describeFrame = (f: Frame) => (f.binary ? `binary(${(f.data as Uint8Array).length} bytes)` : clip(JSON.stringify(f.data), 240));

  /** What the server answered, counted over the whole run (shown as a diagnostic: proof the fuzzing reached it). */
  const outcomes = new Map<string, number>();
  const count = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);

  /**
   * The message that answers `frame` when the server handles it asynchronously (a valid join, publish or
   * chat: database and WebRTC work), besides an error frame; null when any answer comes at once.
   */
  function awaitedAnswer(frame: Frame): string | null {
    if (frame.binary) return null;
    let parsed: ReturnType<typeof clientMessageSchema.safeParse>;
    try {
      parsed = clientMessageSchema.safeParse(JSON.parse(frame.data as string));
    } catch {
      return null;
    }
    if (!parsed.success) return null;
    return ({ join: "joined", publish: "publish-answer", chat: "chat" } as Record<string, string>)[parsed.data.type] ?? null;
  }

  /** One connection: maybe a valid join, then the frames (each answer awaited), then a ping; every answer checked. */
  async function converse(joinAs: string | null, frames: Frame[]): Promise<Array<{ type: string }>> {
    const c = await SignalClient.connect(app.url);
    /** Everything the server sent, in order (SignalClient's own list loses what `next` takes). */
    const log: Array<Record<string, any>> = [];
    const arrivals: Array<() => void> = [];
    c.ws.on("message", (data) => {
      log.push(JSON.parse(String(data)));
      for (const wake of arrivals.splice(0)) wake();
    });
    /** Set when the server closed the socket (not when this test did). */
    let serverClosed: { code: number; reason: string } | null = null;
    let closing = false;
    const closed = c.closed.then((x) => {
      if (!closing) serverClosed = x;
    });
    /** Resolves once a message of `type` (or an error frame) arrives after `from` messages, or the socket closes. */
    const answer = async (type: string, from: number, what: string) => {
      const deadline = Date.now() + 15_000;
      while (!log.slice(from).some((m) => m.type === type || m.type === "error") && !serverClosed) {
        const left = deadline - Date.now();
        if (left <= 0) assert.fail(`no ${type} or error frame within 15 s after ${what}`);
        await Promise.race([new Promise<void>((r) => arrivals.push(r)), closed, new Promise((r) => setTimeout(r, left))]);
      }
    };
    try {
      if (joinAs) {
        c.send({ type: "join", token: tokens[joinAs], name: "Fuzz" });
        await answer("joined", 0, `a join as ${joinAs}`);
        assert.ok(
          log.some((m) => m.type === "joined"),
          `a valid join as ${joinAs} was answered ${JSON.stringify(log)} ${JSON.stringify(serverClosed)}`,
        );
      }
      for (const f of frames) {
        if (serverClosed || c.ws.readyState !== c.ws.OPEN) break;
        const from = log.length;
        c.ws.send(f.data, { binary: f.binary });
        const awaited = awaitedAnswer(f);
        if (awaited) await answer(awaited, from, describeFrame(f));
      }
      if (!serverClosed && c.ws.readyState === c.ws.OPEN) {
        const from = log.length;
        c.send({ type: "ping" });
        await answer("pong", from, "a ping");
      }
    } finally {
      closing = serverClosed === null;
      c.close();
      await closed;
    }
    c.received.splice(0, c.received.length, ...(log as typeof c.received));
    for (const m of c.received) {
      count(m.type === "error" ? `error ${m.code} ${m.reason}` : m.type);
      if (m.type !== "error") continue;
      const frame = JSON.stringify(m);
      // A 503 `unavailable` (the SFU at its CPU limit refusing a publisher) is a documented answer to load, not a fault.
      const capacity = m.code === 503 && m.reason === "unavailable";
      assert.ok(
        Number.isInteger(m.code) && ((m.code >= 400 && m.code < 500) || capacity),
        `error frame with code ${m.code} (must be a 4xx): ${clip(frame, 400)}`,
      );
      assert.ok(typeof m.reason === "string" && m.reason !== "" && m.reason !== "internal", `error frame reason: ${clip(frame, 400)}`);
      assert.ok(typeof m.message === "string" && m.message !== "", `error frame message: ${clip(frame, 400)}`);
      assert.equal(typeof m.fatal, "boolean", `error frame fatal: ${clip(frame, 400)}`);
    }
    if (serverClosed) {
      const { code, reason } = serverClosed;
      count(`close ${code}`);
      assert.ok(
        DOCUMENTED_CLOSE(code),
        `the server closed the socket with ${code} ${JSON.stringify(reason)} (documented: 1000, 1001, 1008, 1009, 4400-4499)`,
      );
    }
    return c.received;
  }

  async function checkServing(after: string): Promise<void> {
    const fresh = await SignalClient.connect(app.url);
    try {
      const joined = await Promise.race([fresh.join(tokens.host, "Fresh"), fresh.closed.then((x) => ({ type: "closed", ...x }))]);
      assert.equal(joined.type, "joined", `after ${after}, a fresh peer could not join: ${JSON.stringify(joined)}`);
    } finally {
      fresh.close();
      await fresh.closed;
    }
    assert.equal((await app.api("GET", "/health")).status, 200, `GET /health after ${after}`);
  }

  for (const phase of ["before join", "after a join as host", "after a join as guest"] as const) {
    test(`bad frames ${phase}, ${FUZZ_RUNS} connections of up to 5 frames (FUZZ_SEED=${FUZZ_SEED})`, async () => {
      const joinAs = phase === "before join" ? null : phase.endsWith("host") ? "host" : "guest";
      const frames = fc.array(frameArb(), { minLength: 1, maxLength: 5 }).map((fs) => {
        Object.defineProperty(fs, fc.toStringMethod, { value: () => `[${fs.map(describeFrame).join(", ")}]`, enumerable: false });
        return fs;
      });
      try {
        await assertProperty(
          `signalling ${phase}`,
          fc.asyncProperty(frames, async (fs) => void (await converse(joinAs, fs))),
        );
      } finally {
        await checkServing(`frames ${phase}`);
      }
    });
  }

  test(`joins with bad app tokens are refused with a 4xx frame and a 44xx close (FUZZ_SEED=${FUZZ_SEED})`, async (t) => {
    const bad = Object.keys(tokens).filter((k) => k !== "host" && k !== "guest");
    const accepted = new Set<string>();
    const join = fc.tuple(fc.constantFrom(...bad), fc.oneof(fc.constant("Fuzz"), nastyString)).map(([token, name]) => {
      const frame: Frame = { binary: false, data: JSON.stringify({ type: "join", token: tokens[token], name }) };
      Object.defineProperty(frame, fc.toStringMethod, {
        value: () => `join with token "${token}", name ${clip(JSON.stringify(name), 80)}`,
        enumerable: false,
      });
      return { token, frame };
    });
    try {
      // Every bad token once for certain, then random pairings with generated names.
      const refusedBadly: string[] = [];
      for (const token of bad) {
        const frame: Frame = { binary: false, data: JSON.stringify({ type: "join", token: tokens[token], name: "Fuzz" }) };
        const answers = await converse(null, [frame]).catch(
          (err: Error) => (refusedBadly.push(`join with token "${token}": ${err.message}`), []),
        );
        if (answers.some((m) => m.type === "joined")) accepted.add(token);
      }
      assert.deepEqual(refusedBadly, [], "joins with these tokens were not refused with a 4xx");
      await assertProperty(
        "signalling bad joins",
        fc.asyncProperty(join, async ({ token, frame }) => {
          if ((await converse(null, [frame])).some((m) => m.type === "joined")) accepted.add(token);
        }),
      );
    } finally {
      await checkServing("bad joins");
    }
    // Not failures (a hidden recorder role, a long user_id can be legitimate): listed for whoever reads the run.
    if (accepted.size) t.diagnostic(`app tokens that joined: ${[...accepted].join("; ")}`);
  });

  test("no built-in prototype was polluted; lookups beyond loopback were refused", (t) => {
    t.diagnostic(
      `answers seen: ${[...outcomes]
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${k} ×${n}`)
        .join(", ")}`,
    );
    assert.deepEqual(prototypePollution(prototypesBefore), []);
    if (guard.refused.length) t.diagnostic(`lookups refused by the fuzz guard: ${[...new Set(guard.refused)].join(", ")}`);
  });
});
