import assert from "node:assert/strict";
import { test } from "node:test";
import { EventBus } from "../../src/util/event-bus.ts";

type Events = { "jobs.queued": void; "recording.requested": { kind: "beam" | "hls" } };

test("an emitted event reaches every listener of that name, with its payload, before emit returns", () => {
  const bus = new EventBus<Events>();
  const seen: string[] = [];
  bus.on("recording.requested", (e) => seen.push(`a:${e.kind}`));
  bus.on("recording.requested", (e) => seen.push(`b:${e.kind}`));
  bus.on("jobs.queued", () => seen.push("jobs"));
  bus.emit("recording.requested", { kind: "hls" });
  assert.deepEqual(seen, ["a:hls", "b:hls"]);
  bus.emit("jobs.queued");
  assert.deepEqual(seen, ["a:hls", "b:hls", "jobs"]);
});

test("an event nobody listens to is a no-op", () => {
  const bus = new EventBus<Events>();
  assert.doesNotThrow(() => bus.emit("jobs.queued"));
});

test("off, and the function on returns, stop a listener; other listeners stay", () => {
  const bus = new EventBus<Events>();
  let a = 0;
  let b = 0;
  const la = () => a++;
  bus.on("jobs.queued", la);
  const unsubscribeB = bus.on("jobs.queued", () => b++);
  bus.emit("jobs.queued");
  bus.off("jobs.queued", la);
  bus.emit("jobs.queued");
  unsubscribeB();
  bus.emit("jobs.queued");
  assert.deepEqual([a, b], [1, 2]);
  assert.equal(bus.listenerCount("jobs.queued"), 0);
});

test("a listener that throws is reported, and neither the emitter nor the next listener sees it", () => {
  const errors: Array<{ message: string; event: string }> = [];
  const bus = new EventBus<Events>((err, event) => errors.push({ message: (err as Error).message, event }));
  let reached = false;
  bus.on("jobs.queued", () => {
    throw new Error("listener broke");
  });
  bus.on("jobs.queued", () => (reached = true));
  assert.doesNotThrow(() => bus.emit("jobs.queued"));
  assert.equal(reached, true);
  assert.deepEqual(errors, [{ message: "listener broke", event: "jobs.queued" }]);
});

test("a listener removing itself while an event is delivered does not skip the others", () => {
  const bus = new EventBus<Events>();
  const seen: string[] = [];
  const once = bus.on("jobs.queued", () => {
    seen.push("once");
    once();
  });
  bus.on("jobs.queued", () => seen.push("always"));
  bus.emit("jobs.queued");
  bus.emit("jobs.queued");
  assert.deepEqual(seen, ["once", "always", "always"]);
});

test("payloads are type-checked per event", () => {
  const bus = new EventBus<Events>();
  // @ts-expect-error: recording.requested needs its payload
  assert.doesNotThrow(() => bus.emit("recording.requested"));
  // @ts-expect-error: jobs.queued carries nothing
  bus.emit("jobs.queued", { kind: "beam" });
  // @ts-expect-error: no such event
  bus.on("no.such.event", () => {});
});
