import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { AppIdentity } from "../../src/config/identity.ts";
import { SecretBox } from "../../src/crypto/secret-box.ts";
import type { Db } from "../../src/db/database.ts";
import { newObjectId } from "../../src/ids.ts";
import { beamDetails } from "../../src/recorders/browser/beam.service.ts";
import {
  allowedFrom,
  canTransition,
  claimableRecordings,
  claimRecording,
  findRecording,
  findRecordings,
  insertRecording,
  insertRecordingUnlessActive,
  listRecordings,
  markCompleted,
  markPostProcessing,
  markRunning,
  orphanedRecordings,
  parseRecordingDetails,
  RECORDING_TRANSITIONS,
  RecordingDetailsError,
  recordingFailure,
  renewLeases,
  requestRecordingStop,
  transitionRecording,
  type RecordingStore,
} from "../../src/recorders/core/recording.repository.ts";
import { hlsDetails } from "../../src/recorders/hls/live-stream.service.ts";
import { closeSfuRecording, openSfuRecording, recordingDetails, sessionRecording } from "../../src/recorders/sfu/sfu-recording.ts";
import { RECORDING_KINDS, RECORDING_STATUSES } from "../../src/domain/recording-types.ts";
import type { EnqueueInput } from "../../src/webhooks/outbox.ts";
import { WebhookOutbox } from "../../src/webhooks/outbox.ts";
import { DIALECTS, openTestDatabase } from "../support/db.ts";

// The recordings repository on both engines: a status changes only along its kind's table, in one
// conditional UPDATE; a refused transition leaves the row as it was and writes nothing else; what a
// transition writes with it (the webhook event, other rows) exists exactly when the change does.

const identity: AppIdentity = {
  appId: "app",
  customerId: "customer",
  accessKey: "key",
  appSecret: "secret",
  encryptionKey: randomBytes(32).toString("base64"),
  webhookSecret: "whsec",
  urlSigningKey: "signing",
};

const beamDetailsJson = {
  width: 1280,
  height: 720,
  audio_only: false,
  layout: "grid",
  roles: null,
  custom_url: "",
  max_duration_s: 60,
  auto_stop_s: 60,
};

const event = (roomId: string): EnqueueInput => ({
  type: "beam.started.success",
  room: { id: roomId, webhook: null },
  data: { room_id: roomId },
});

test("the transition table: final statuses are final, and every target is reachable from somewhere", () => {
  for (const kind of RECORDING_KINDS) {
    for (const to of RECORDING_STATUSES)
      for (const from of ["completed", "failed"] as const) assert.equal(canTransition(kind, from, to), false);
    assert.deepEqual(
      allowedFrom(kind, "failed"),
      kind === "sfu" || kind === "compose" ? ["post_processing"] : ["starting", "running", "stopping", "post_processing"],
    );
    assert.deepEqual(allowedFrom(kind, "completed"), ["post_processing"]);
  }
  assert.deepEqual(allowedFrom("beam", "stopping"), ["running"]);
  assert.deepEqual(allowedFrom("sfu", "stopping"), []);
  assert.deepEqual(allowedFrom("hls", "post_processing"), ["running", "stopping"]);
  assert.deepEqual(RECORDING_TRANSITIONS.sfu.running, ["post_processing"]);
});

for (const dialect of DIALECTS) {
  describe(`recordings repository on ${dialect}`, () => {
    let db: Db;
    let close: () => Promise<void>;
    let store: RecordingStore;

    before(async () => {
      ({ db, close } = await openTestDatabase(dialect));
      store = { db, outbox: new WebhookOutbox({ identity, box: new SecretBox(identity.encryptionKey) }) };
    });
    after(() => close());

    const events = async (roomId: string) =>
      (await db.selectFrom("webhook_events").selectAll().where("room_id", "=", roomId).execute()).map((e) => e.type);
    const beam = (roomId = newObjectId()) =>
      insertRecording(db, { kind: "beam", roomId, startedBy: "test", details: beamDetailsJson, meetingUrl: "https://example.com/" });

    test("one insert for every kind: beam and hls start `starting`, an SFU recording `running`", async () => {
      const b = await beam();
      assert.equal(b.status, "starting");
      assert.equal(b.started_at, null);
      const s = await insertRecording(db, { kind: "sfu", roomId: newObjectId(), sessionId: newObjectId(), startedBy: "auto", details: {} });
      assert.equal(s.status, "running");
      assert.equal(s.started_at, s.created_at);
      assert.deepEqual(await findRecording(db, b.id), b);
      assert.equal(await findRecording(db, b.id, "hls"), undefined);
    });

    test("a legal transition applies and writes its event in the same transaction", async () => {
      const rec = await beam();
      const res = await markRunning(store, {
        id: rec.id,
        kind: "beam",
        set: { started_at: "2026-12-01T10:00:00.000Z", updated_at: "2026-12-01T10:00:01.000Z" },
        event: (row) => ({ ...event(rec.room_id), data: { room_id: rec.room_id, status: row.status } }),
      });
      assert.equal(res.applied, true);
      assert.ok(res.applied);
      assert.equal(res.row.status, "running");
      assert.equal(res.row.started_at, "2026-12-01T10:00:00.000Z");
      assert.equal(res.row.updated_at, "2026-12-01T10:00:01.000Z");
      assert.deepEqual(await events(rec.room_id), ["beam.started.success"]);
      const body = JSON.parse(
        (await db.selectFrom("webhook_events").select("body").where("room_id", "=", rec.room_id).executeTakeFirstOrThrow()).body,
      );
      assert.equal(body.data.status, "running", "the event is built from the row as updated");
    });

    test("an illegal transition is refused: the row is unchanged, no event, nothing else written", async () => {
      const rec = await beam();
      let alsoRan = false;
      const res = await markCompleted(store, {
        id: rec.id,
        kind: "beam",
        set: { failure: "should not be written", worker: "w" },
        also: async () => {
          alsoRan = true;
        },
        event: event(rec.room_id),
      });
      assert.equal(res.applied, false);
      assert.ok(!res.applied);
      assert.equal(res.current?.status, "starting");
      assert.deepEqual(await findRecording(db, rec.id), rec, "the row is exactly as it was");
      assert.equal(alsoRan, false);
      assert.deepEqual(await events(rec.room_id), []);
    });

    test("completed and failed are final", async () => {
      const rec = await beam();
      for (const to of ["running", "post_processing", "completed"] as const) {
        const r = await transitionRecording(store, { id: rec.id, kind: "beam", to });
        assert.equal(r.applied, true, to);
      }
      const done = await findRecording(db, rec.id);
      const again = await transitionRecording(store, {
        id: rec.id,
        kind: "beam",
        to: "failed",
        set: { failure: "{}" },
        event: event(rec.room_id),
      });
      assert.equal(again.applied, false);
      assert.deepEqual(await findRecording(db, rec.id), done);
      assert.deepEqual(await events(rec.room_id), []);
    });

    test("the kind is part of the check: an SFU recording never goes `stopping`, nor a beam as `sfu`", async () => {
      const s = await insertRecording(db, { kind: "sfu", roomId: newObjectId(), sessionId: newObjectId(), startedBy: "auto", details: {} });
      // @ts-expect-error: not a status an SFU recording reaches
      const stopping = await transitionRecording(store, { id: s.id, kind: "sfu", to: "stopping" });
      assert.equal(stopping.applied, false);
      const b = await beam();
      await markRunning(store, { id: b.id, kind: "beam" });
      const wrongKind = await markPostProcessing(store, { id: b.id, kind: "sfu" });
      assert.equal(wrongKind.applied, false);
      assert.equal((await findRecording(db, b.id))?.status, "running");
      const missing = await markPostProcessing(store, { id: newObjectId(), kind: "sfu" });
      assert.equal(missing.applied, false);
      assert.ok(!missing.applied);
      assert.equal(missing.current, undefined);
    });

    test("atomic: when the event or another row cannot be written, the status change is rolled back", async () => {
      const rec = await beam();
      const failing: RecordingStore = {
        db,
        outbox: {
          enqueue: async (trx, input) => {
            await store.outbox!.enqueue(trx, input);
            throw new Error("outbox write failed");
          },
        },
      };
      await assert.rejects(markRunning(failing, { id: rec.id, kind: "beam", event: event(rec.room_id) }), /outbox write failed/);
      assert.deepEqual(await findRecording(db, rec.id), rec);
      assert.deepEqual(await events(rec.room_id), []);

      await assert.rejects(
        markRunning(store, {
          id: rec.id,
          kind: "beam",
          also: async (trx) => {
            await trx
              .insertInto("app_settings")
              .values({ key: `also-${rec.id}`, value: "x", updated_at: "" })
              .execute();
            throw new Error("other row failed");
          },
          event: event(rec.room_id),
        }),
        /other row failed/,
      );
      assert.equal((await findRecording(db, rec.id))?.status, "starting");
      assert.equal(await db.selectFrom("app_settings").select("key").where("key", "=", `also-${rec.id}`).executeTakeFirst(), undefined);
      assert.deepEqual(await events(rec.room_id), []);
    });

    test("`also` runs with the change and its result reaches the event", async () => {
      const rec = await beam();
      await markRunning(store, { id: rec.id, kind: "beam" });
      const res = await markPostProcessing(store, {
        id: rec.id,
        kind: "beam",
        set: { stopped_at: "2026-12-01T11:00:00.000Z" },
        also: async (trx, row) => {
          await trx
            .insertInto("app_settings")
            .values({ key: `job-${row.id}`, value: row.status, updated_at: "" })
            .execute();
          return 42;
        },
        event: (_row, n) => ({ ...event(rec.room_id), type: "beam.stopped.success", data: { room_id: rec.room_id, n } }),
      });
      assert.ok(res.applied);
      assert.equal(res.also, 42);
      assert.equal(
        (await db.selectFrom("app_settings").select("value").where("key", "=", `job-${rec.id}`).executeTakeFirstOrThrow()).value,
        "post_processing",
      );
      assert.deepEqual(await events(rec.room_id), ["beam.stopped.success"]);
    });

    test("two writers racing from the same status: exactly one applies, one event", async () => {
      const rec = await beam();
      await markRunning(store, { id: rec.id, kind: "beam" });
      const results = await Promise.all([
        transitionRecording(store, { id: rec.id, kind: "beam", to: "post_processing", event: event(rec.room_id) }),
        transitionRecording(store, { id: rec.id, kind: "beam", to: "failed", event: event(rec.room_id) }),
      ]);
      // post_processing → failed is allowed, so the two may apply one after the other; never both from running.
      const applied = results.filter((r) => r.applied);
      assert.ok(applied.length >= 1);
      assert.equal((await events(rec.room_id)).length, applied.length);
      const final = await findRecording(db, rec.id);
      if (applied.length === 2) assert.equal(final?.status, "failed");

      const s = await insertRecording(db, { kind: "sfu", roomId: newObjectId(), sessionId: newObjectId(), startedBy: "auto", details: {} });
      const closes = await Promise.all([1, 2, 3].map(() => markPostProcessing(store, { id: s.id, kind: "sfu", event: event(s.room_id) })));
      assert.equal(closes.filter((r) => r.applied).length, 1, "running → post_processing happens once");
      assert.equal((await events(s.room_id)).length, 1);
    });

    test("inside a caller's transaction: rolled back with it", async () => {
      const s = await insertRecording(db, { kind: "sfu", roomId: newObjectId(), sessionId: newObjectId(), startedBy: "auto", details: {} });
      await assert.rejects(
        db.transaction().execute(async (trx) => {
          const r = await markPostProcessing({ db: trx, outbox: store.outbox }, { id: s.id, kind: "sfu", event: event(s.room_id) });
          assert.equal(r.applied, true);
          throw new Error("the caller's transaction fails");
        }),
      );
      assert.equal((await findRecording(db, s.id))?.status, "running");
      assert.deepEqual(await events(s.room_id), []);
    });

    test("a stop request: a starting recording keeps its status, a running one goes stopping, the first reason stays", async () => {
      const starting = await beam();
      const r1 = await requestRecordingStop(db, { id: starting.id, kind: "beam", reason: "client request" });
      assert.equal(r1?.status, "starting");
      assert.equal(r1?.stop_reason, "client request");
      const running = await beam();
      await markRunning(store, { id: running.id, kind: "beam" });
      const r2 = await requestRecordingStop(db, { id: running.id, kind: "beam", reason: "max duration reached", stoppedBy: "me" });
      assert.equal(r2?.status, "stopping");
      assert.equal(r2?.stopped_by, "me");
      const r3 = await requestRecordingStop(db, { id: running.id, kind: "beam", reason: "client request" });
      assert.equal(r3?.stop_reason, "max duration reached");
      assert.equal(r3?.status, "stopping");
      assert.equal(await requestRecordingStop(db, { id: running.id, kind: "hls", reason: "x" }), undefined);
    });

    test("claims: one worker gets a starting recording; an expired lease makes it claimable (and an orphan) again", async () => {
      const rec = await beam();
      const lease = (ms: number) => new Date(Date.now() + ms).toISOString();
      const claimable = async (kind: "beam" | "hls" = "beam") =>
        (await claimableRecordings(db, { kind, limit: 1000 })).some((r) => r.id === rec.id);
      assert.equal(await claimable(), true, "nobody holds it yet");
      assert.equal(await claimable("hls"), false, "of its kind only");
      const claims = await Promise.all(
        ["w1", "w2"].map((worker) => claimRecording(db, { id: rec.id, kind: "beam", worker, leaseUntil: lease(60_000) })),
      );
      assert.equal(claims.filter(Boolean).length, 1);
      assert.equal(await claimable(), false, "held, its lease running");
      const holder = (await findRecording(db, rec.id))?.worker;
      assert.ok(holder === "w1" || holder === "w2");
      assert.equal(await claimRecording(db, { id: rec.id, kind: "beam", worker: "w3", leaseUntil: lease(60_000) }), false);
      assert.equal(await claimRecording(db, { id: rec.id, kind: "hls", worker: "w3", leaseUntil: lease(60_000) }), false);
      const ids = async (worker: string, now?: string) =>
        (await orphanedRecordings(db, { kind: "beam", statuses: ["starting"], worker, now }))
          .map((r) => r.id)
          .filter((id) => id === rec.id);
      assert.deepEqual(await ids(holder!), [rec.id], "its own worker, restarted, finds it");
      assert.deepEqual(await ids("w3"), []);
      await renewLeases(db, { ids: [rec.id], worker: "w3", leaseUntil: lease(-1000) });
      assert.deepEqual(await ids("w3"), [], "only the holder renews");
      await renewLeases(db, { ids: [rec.id], worker: holder!, leaseUntil: lease(-1000) });
      assert.deepEqual(await ids("w3"), [rec.id], "an expired lease is an orphan");
      assert.equal(await claimable(), true, "and claimable again");
      assert.equal(await claimRecording(db, { id: rec.id, kind: "beam", worker: "w3", leaseUntil: lease(60_000) }), true);
      await markRunning(store, { id: rec.id, kind: "beam" });
      await renewLeases(db, { ids: [rec.id], worker: "w3", leaseUntil: lease(-1000) });
      assert.equal(await claimable(), false, "only a starting one is claimable");
      assert.deepEqual(
        (await findRecordings(db, [rec.id, newObjectId()])).map((r) => r.id),
        [rec.id],
        "a worker's rows by id, missing ones left out",
      );
      assert.deepEqual(await findRecordings(db, []), []);
      assert.equal(
        await claimRecording(db, { id: rec.id, kind: "beam", worker: "w4", leaseUntil: lease(60_000) }),
        false,
        "only a starting one",
      );
    });

    test("an SFU recording: opened with its session, found by it, closed once (to post_processing, with its job)", async () => {
      const sessionId = newObjectId();
      const room = { id: newObjectId() } as Parameters<typeof openSfuRecording>[1];
      const settings = { track: true, stream: true, composite: false };
      const ref = await db
        .transaction()
        .execute((trx) =>
          openSfuRecording(trx, room, { id: sessionId, startedAt: "2026-12-01T10:00:00.000Z" }, { settings, chunkMs: 30_000 }),
        );
      assert.deepEqual(await sessionRecording(db, sessionId), ref);
      const details = recordingDetails((await findRecording(db, ref.id, "sfu"))!);
      assert.equal(details.epoch, Date.parse("2026-12-01T10:00:00.000Z"));
      await db.transaction().execute((trx) => closeSfuRecording(trx, sessionId, "2026-12-01T10:05:00.000Z"));
      await db.transaction().execute((trx) => closeSfuRecording(trx, sessionId, "2026-12-01T10:06:00.000Z"));
      const closed = await findRecording(db, ref.id);
      assert.equal(closed?.status, "post_processing");
      assert.equal(closed?.stopped_at, "2026-12-01T10:05:00.000Z");
      assert.equal(await sessionRecording(db, sessionId), null);
      const jobs = await db.selectFrom("jobs").select("key").where("key", "=", `process-session:${ref.id}`).execute();
      assert.equal(jobs.length, 1);
    });

    test("one active recording of a kind per room", async () => {
      const roomId = newObjectId();
      const first = await insertRecordingUnlessActive(db, { kind: "hls", roomId, startedBy: "", details: {} }, () => new Error("busy"));
      await assert.rejects(
        insertRecordingUnlessActive(db, { kind: "hls", roomId, startedBy: "", details: {} }, (e) => new Error(`busy with ${e.id}`)),
        new RegExp(`busy with ${first.id}`),
      );
      // Another kind does not count.
      await insertRecordingUnlessActive(db, { kind: "beam", roomId, startedBy: "", details: {} }, () => new Error("busy"));
      await transitionRecording(store, { id: first.id, kind: "hls", to: "failed" });
      await insertRecordingUnlessActive(db, { kind: "hls", roomId, startedBy: "", details: {} }, () => new Error("busy"));
    });

    test("lists page by id with the filters", async () => {
      const roomId = newObjectId();
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await beam(roomId)).id);
      await markRunning(store, { id: ids[1], kind: "beam" });
      const page1 = await listRecordings(db, { kind: "beam", roomId, limit: 2, order: "asc" });
      assert.deepEqual(
        page1.map((r) => r.id),
        ids,
        "limit + 1 rows",
      );
      const page2 = await listRecordings(db, { kind: "beam", roomId, limit: 2, order: "asc", start: ids[1] });
      assert.deepEqual(
        page2.map((r) => r.id),
        [ids[2]],
      );
      const desc = await listRecordings(db, { kind: "beam", roomId, limit: 10, order: "desc", start: ids[2] });
      assert.deepEqual(
        desc.map((r) => r.id),
        [ids[1], ids[0]],
      );
      const running = await listRecordings(db, { kind: "beam", roomId, limit: 10, order: "asc", status: "running" });
      assert.deepEqual(
        running.map((r) => r.id),
        [ids[1]],
      );
      assert.deepEqual(await listRecordings(db, { kind: "hls", roomId, limit: 10, order: "asc" }), []);
    });
  });
}

describe("recording details and failure, checked", () => {
  const row = (details: unknown, kind: "beam" | "hls" | "sfu" = "beam") => ({
    id: "r1",
    kind,
    details: typeof details === "string" ? details : JSON.stringify(details),
    created_at: "2026-12-01T10:00:00.000Z",
  });

  test("a browser recording's details: checked, unknown fields kept", () => {
    const d = beamDetails(row({ ...beamDetailsJson, epoch: 5, extra: "kept" }) as never);
    assert.equal(d.epoch, 5);
    assert.equal((d as unknown as Record<string, unknown>).extra, "kept");
    assert.throws(
      () => beamDetails(row({ ...beamDetailsJson, width: "wide" }) as never),
      (err: unknown) => {
        assert.ok(err instanceof RecordingDetailsError);
        assert.match(err.message, /^recording r1: details\.width: /);
        return true;
      },
    );
    assert.throws(() => beamDetails(row("{not json") as never), /recording r1: details is not JSON/);
    assert.throws(() => beamDetails(row({}) as never), /details\.width/);
  });

  test("a live stream's details: stored layers without bitrates get the defaults", () => {
    const d = hlsDetails(
      row({
        ...beamDetailsJson,
        requested_layers: [{ width: 320, height: 180 }],
        hls_vod: false,
        single_file_per_layer: true,
        playlist_type: "event",
        playlist_segments: 5,
      }) as never,
    );
    assert.equal(d.requested_layers[0].width, 320);
    assert.equal(typeof d.requested_layers[0].videoBitrate, "number");
    assert.equal(d.requested_layers[0].audioBitrate, 128);
    assert.throws(() => hlsDetails(row({ ...beamDetailsJson, playlist_type: "vod" }) as never), /details\.requested_layers/);
  });

  test("an SFU recording's details", () => {
    const d = recordingDetails(
      row({ settings: { track: true, stream: false, composite: true }, epoch: 1, chunkMs: 30000, done: { chat: "done" } }, "sfu") as never,
    );
    assert.deepEqual(d.done, { chat: "done" });
    assert.throws(
      () => recordingDetails(row({ settings: { track: true }, epoch: 1, chunkMs: 30000 }, "sfu") as never),
      /details\.settings\.stream/,
    );
    assert.ok(parseRecordingDetails(row({ a: 1 }), { safeParse: (v: unknown) => ({ success: true, data: v }) } as never));
  });

  test("the stored failure", () => {
    assert.equal(recordingFailure({ failure: null }), null);
    assert.equal(recordingFailure({ failure: "nope" }), null);
    assert.equal(recordingFailure({ failure: "[1]" }), null);
    assert.deepEqual(recordingFailure({ failure: '{"type":"UPLOAD_ERROR","message":"m","origin":"destination"}' }), {
      type: "UPLOAD_ERROR",
      message: "m",
      origin: "destination",
    });
  });
});
