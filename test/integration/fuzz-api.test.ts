import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { bodyArb, describeBody, malformedUrlArb, pathParamArb, queryArb, type BodyChoice } from "../support/fuzz-inputs.ts";
import {
  FUZZ_RUNS,
  FUZZ_SEED,
  assertProperty,
  checkHttpAnswer,
  clip,
  guardOutboundLookups,
  prototypePollution,
  snapshotPrototypes,
} from "../support/fuzz-run.ts";
import { SignalClient } from "../support/signal-client.ts";
import type { LiveStream, Recording, Room, Template } from "../support/api-types.ts";

// Property-based fuzzing of every /v2 route, enumerated from the running server (a new route is fuzzed
// without editing this file). Each route gets generated bad path parameters, query strings, bodies and
// content types; every answer must be a 2xx or a documented 4xx in the error shape, never a 5xx, and
// after each route the server must still serve. Seeded: FUZZ_SEED replays a failure, FUZZ_RUNS scales.

type Route = { method: string; url: string };

interface FuzzRequest {
  method: string;
  path: string;
  body: BodyChoice;
}

/** Bodies known to be valid where a route's own GET cannot show one; mutations of these reach the deeper validators. */
const knownBodies: Record<string, Record<string, unknown>> = {
  "POST /v2/rooms/:id/tokens": { role: "host", user_id: "fuzz-user", name: "Fuzz" },
  "POST /v2/recordings/room/:room_id/start": { resolution: { width: 1280, height: 720 }, audio_only: false, roles: ["host"] },
  "POST /v2/live-streams/room/:room_id/start": { recording: { hls_vod: true } },
  "POST /v2/live-streams/:id/timed-metadata": { payload: "fuzz", duration: 10 },
  "POST /v2/storage/validate": {
    type: "s3",
    location: "fuzz-bucket",
    prefix: "p",
    options: { endpoint: "http://127.0.0.1:9", region: "us-east-1", force_path_style: true },
    credentials: { key: "k", secretKey: "s" },
  },
  "POST /v2/webhooks/config": { url: "http://127.0.0.1:9/hook", headers: { "x-fuzz": "1" }, enabled: false },
};

/** PostgreSQL by default: it refuses more (NUL bytes, out-of-range numbers) than SQLite, so finds more. */
const DIALECT = process.env.FUZZ_DIALECT === "sqlite" ? "sqlite" : "postgres";

const QUERY_KEYS = [
  "limit",
  "start",
  "order",
  "room_id",
  "session_id",
  "status",
  "type",
  "state",
  "active",
  "presign_duration",
  "after",
  "before",
  "name",
  "enabled",
];

describe(`fuzz: every /v2 route answers bad input with a documented 4xx (${DIALECT})`, () => {
  let app: TestApp;
  let routes: Route[];
  const guard = guardOutboundLookups();
  const prototypesBefore = snapshotPrototypes();
  /** Existing ids by list route ("/v2/rooms" → room ids), and every string any list showed under a key. */
  const idsByList = new Map<string, string[]>();
  const firstItemByList = new Map<string, Record<string, unknown>>();

  /** Statuses and reasons answered, counted over the run (a diagnostic: what the fuzzing reached). */
  const outcomes = new Map<string, number>();

  const send = async (method: string, path: string, body: BodyChoice | null = null) => {
    const headers: Record<string, string> = { authorization: `Bearer ${app.token}` };
    if (body?.contentType) headers["content-type"] = body.contentType;
    const res = await fetch(app.url + path, { method, headers, body: body?.text ?? undefined, signal: AbortSignal.timeout(20_000) });
    return { status: res.status, contentType: res.headers.get("content-type"), text: await res.text() };
  };
  const getJson = async (path: string) => {
    const r = await send("GET", path);
    return r.status === 200 ? JSON.parse(r.text) : null;
  };

  before(async () => {
    // No worker: queued recordings stay queued (no Chromium); the chat limits are out of the way.
    app = await startTestApp({ dialect: DIALECT, env: { TAPEDECK_ROLES: "api,sfu" } });
    routes = (app.server as unknown as { routeList: Route[] }).routeList.filter((r) => r.url.startsWith("/v2/"));
    // Something of each kind to point at: a template, a room, a session with peers and webhook events,
    // a browser recording and a live stream (both stay queued).
    const template = await app.api<Template>("POST", "/v2/templates", { name: "fuzz-template" });
    const room = await app.api<Room>("POST", "/v2/rooms", { name: "fuzz-room", template_id: template.body.id });
    const peer = await SignalClient.connect(app.url);
    await peer.join(await mintAppToken(app.ctx.identity, { roomId: room.body.id, role: "host", userId: "fuzz" }), "Fuzz");
    peer.close();
    await peer.closed;
    await app.api<Recording>("POST", `/v2/recordings/room/${room.body.id}/start`, {});
    await app.api<LiveStream>("POST", `/v2/live-streams/room/${room.body.id}/start`, {});
    for (const r of routes.filter((r) => r.method === "GET" && !r.url.includes(":"))) {
      const list = await getJson(r.url);
      const items = Array.isArray(list?.data) ? (list.data as Array<Record<string, unknown>>) : [];
      idsByList.set(
        r.url,
        items.map((i) => i.id).filter((v): v is string => typeof v === "string"),
      );
      if (items[0]) firstItemByList.set(r.url, items[0]);
    }
  });
  after(async () => {
    guard.restore();
    await app?.close();
  });

  /** Existing values for a path parameter: ids from the list it belongs to, role names for `:role`. */
  function validValues(url: string, param: string): string[] {
    if (param === "role") return ["host", "guest"];
    const prefix = url.slice(0, url.indexOf(`:${param}`)).replace(/\/$/, "");
    const list = idsByList.get(prefix) ?? idsByList.get(`/v2/${param.replace(/_id$/, "")}s`) ?? [];
    return list.slice(0, 3);
  }

  /** The route's URL with the first valid value of each parameter (or a well-formed unknown id). */
  function validUrl(url: string): string {
    return url.replace(/:([a-z_]+)/g, (_m, p: string) => validValues(url, p)[0] ?? "0".repeat(24));
  }

  /** A valid-looking body to mutate: a known one, what GET of the same URL shows, or the list's first item. */
  async function baseBody(route: Route): Promise<Record<string, unknown> | null> {
    const known = knownBodies[`${route.method} ${route.url}`];
    if (known) return known;
    if (route.method !== "POST") return null;
    const shown = await getJson(validUrl(route.url));
    if (shown && typeof shown === "object" && !Array.isArray(shown))
      return Array.isArray(shown.data) ? (firstItemByList.get(route.url) ?? null) : shown;
    return null;
  }

  /** The field names a route's body uses: its base body's keys, and whatever `{}` is told is missing. */
  async function fieldNames(route: Route, base: Record<string, unknown> | null): Promise<string[]> {
    const names = new Set<string>();
    const walk = (v: unknown, depth: number) => {
      if (!v || typeof v !== "object" || depth > 3) return;
      for (const [k, x] of Object.entries(v)) {
        if (!/^\d+$/.test(k)) names.add(k);
        walk(x, depth + 1);
      }
    };
    walk(base, 0);
    if (route.method !== "GET") {
      const probe = await send(route.method, validUrl(route.url), { contentType: "application/json", text: "{}" });
      const details = probe.status === 400 ? ((JSON.parse(probe.text).details ?? []) as string[]) : [];
      for (const d of details)
        for (const part of d.split(":")[0].split(".")) if (part && part !== "(body)" && !/^\d+$/.test(part)) names.add(part);
    }
    return [...names];
  }

  async function checkServing(after: string): Promise<void> {
    const health = await send("GET", "/health");
    assert.equal(health.status, 200, `GET /health after ${after}: ${health.status} ${clip(health.text)}`);
    const rooms = await send("GET", "/v2/rooms");
    assert.equal(rooms.status, 200, `GET /v2/rooms after ${after}: ${rooms.status} ${clip(rooms.text)}`);
  }

  test(`each route, ${FUZZ_RUNS} generated requests (FUZZ_SEED=${FUZZ_SEED})`, async (t) => {
    assert.ok(routes.length >= 40, `only ${routes.length} /v2 routes found`);
    const failures: string[] = [];
    for (const route of routes) {
      const name = `${route.method} ${route.url}`;
      const base = await baseBody(route);
      const fields = await fieldNames(route, base);
      const params = [...route.url.matchAll(/:([a-z_]+)/g)].map((m) => m[1]);
      const queryKeys = [...new Set([...QUERY_KEYS, ...fields.filter((f) => f.length < 30)])];
      const noBody = fc.constant<BodyChoice>({ contentType: null, text: null });
      const body =
        route.method === "GET"
          ? noBody
          : route.method === "DELETE"
            ? fc.oneof({ arbitrary: noBody, weight: 3 }, { arbitrary: bodyArb(fields, base), weight: 1 })
            : bodyArb(fields, base);
      const request = fc
        .record({ values: fc.tuple(...params.map((p) => pathParamArb(validValues(route.url, p)))), query: queryArb(queryKeys), body })
        .map(({ values, query, body }): FuzzRequest => {
          let i = 0;
          const path = route.url.replace(/:([a-z_]+)/g, () => values[i++]) + query;
          const req = { method: route.method, path, body };
          Object.defineProperty(req, fc.toStringMethod, {
            value: () => `${route.method} ${clip(path, 300)} ${describeBody(body)}`,
            enumerable: false,
          });
          return req;
        });
      // Each route is its own subtest, so every failing route is reported, not just the first.
      await t.test(name, async () => {
        try {
          await assertProperty(
            name,
            fc.asyncProperty(request, async (req) => {
              let answer: Awaited<ReturnType<typeof send>>;
              try {
                answer = await send(req.method, req.path, req.body);
              } catch (err) {
                throw new Error(
                  `${req.method} ${clip(req.path)}: no answer (${(err as Error).message}; ${String((err as Error).cause ?? "")})`,
                );
              }
              checkHttpAnswer(`${req.method} ${clip(req.path)}`, answer.status, answer.contentType, answer.text);
              const key = answer.status >= 400 ? `${answer.status} ${JSON.parse(answer.text).reason}` : String(answer.status);
              outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
            }),
          );
        } catch (err) {
          failures.push(name);
          throw err;
        } finally {
          await checkServing(name);
        }
      });
    }
    t.diagnostic(
      `answers seen: ${[...outcomes]
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${k} ×${n}`)
        .join(", ")}`,
    );
    if (failures.length) t.diagnostic(`routes whose property failed: ${failures.join("; ")}`);
  });

  // Found by this suite on PostgreSQL (which refuses NUL in text): a cursor with NUL was a 500.
  test("a list's `start` cursor with a NUL or control character is a 400 on every list route", async () => {
    const lists = routes.filter(
      (r) => r.method === "GET" && !r.url.includes(":") && idsByList.has(r.url) && r.url !== "/v2/webhooks/config",
    );
    assert.ok(lists.length >= 8, `only ${lists.length} list routes`);
    for (const r of lists) {
      for (const start of ["%00", "a%00b", "%1B", "%E2%80%AE"]) {
        const answer = await send("GET", `${r.url}?start=${start}`);
        checkHttpAnswer(`GET ${r.url}?start=${start}`, answer.status, answer.contentType, answer.text);
        assert.equal(answer.status, 400, `GET ${r.url}?start=${start}: ${answer.status} ${clip(answer.text)}`);
        assert.match(JSON.parse(answer.text).message, /start/);
      }
    }
  });

  test(`malformed URLs on any route: bad percent-escapes, request heads over 16 KiB (FUZZ_SEED=${FUZZ_SEED})`, async () => {
    const urls = routes.filter((r) => r.method === "GET").map((r) => r.url);
    const request = malformedUrlArb(urls).map((path) => {
      const req = { path };
      Object.defineProperty(req, fc.toStringMethod, { value: () => `GET ${clip(path, 300)}`, enumerable: false });
      return req;
    });
    try {
      await assertProperty(
        "malformed URLs",
        fc.asyncProperty(request, async ({ path }) => {
          const answer = await send("GET", path);
          checkHttpAnswer(`GET ${clip(path)}`, answer.status, answer.contentType, answer.text);
        }),
      );
    } finally {
      await checkServing("malformed URLs");
    }
  });

  test("no built-in prototype was polluted; lookups beyond loopback were refused", (t) => {
    assert.deepEqual(prototypePollution(prototypesBefore), []);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    // Not the server's fault (validating a destination looks its bucket up): the guard kept the test on loopback.
    if (guard.refused.length) t.diagnostic(`lookups refused by the fuzz guard: ${[...new Set(guard.refused)].join(", ")}`);
  });
});
