import assert from "node:assert/strict";
import { test } from "node:test";
import type { RecordingRow } from "../../src/db/schema.ts";
import { reachStep, renderProgress } from "../../src/recorders/browser/capture-progress.ts";

// A starting recording's `progress` (a tapedeck addition to /v2/recordings and /v2/live-streams).

const row = (o: Partial<RecordingRow>): RecordingRow =>
  ({ status: "starting", worker: null, created_at: "2026-01-01T00:00:00.000Z", ...o }) as RecordingRow;

test("progress: waiting for a recorder until a worker holds it, then the steps reached, in order, each with when it began", () => {
  assert.deepEqual(renderProgress(row({}), {}), {
    progress: {
      step: "waiting_for_recorder",
      since: "2026-01-01T00:00:00.000Z",
      steps: [{ step: "waiting_for_recorder", since: "2026-01-01T00:00:00.000Z" }],
    },
  });
  let p = reachStep(undefined, "launching_browser", "2026-01-01T00:00:01.000Z");
  p = reachStep(p, "loading_page", "2026-01-01T00:00:02.000Z");
  p = reachStep(p, "joining_room", "2026-01-01T00:00:03.000Z");
  assert.deepEqual(renderProgress(row({ worker: "w" }), { progress: p }), {
    progress: {
      step: "joining_room",
      since: "2026-01-01T00:00:03.000Z",
      steps: [
        { step: "launching_browser", since: "2026-01-01T00:00:01.000Z" },
        { step: "loading_page", since: "2026-01-01T00:00:02.000Z" },
        { step: "joining_room", since: "2026-01-01T00:00:03.000Z" },
      ],
    },
  });
  // Taken again (its worker died while starting): a step reached again is listed once, at its new time.
  assert.deepEqual(
    reachStep(p, "launching_browser", "2026-01-01T00:01:00.000Z").steps.map((s) => s.step),
    ["loading_page", "joining_room", "launching_browser"],
  );
});

test("progress: absent once the recording is no longer starting", () => {
  const p = reachStep(undefined, "starting_capture");
  for (const status of ["running", "stopping", "post_processing", "completed", "failed"] as const)
    assert.deepEqual(renderProgress(row({ status, worker: "w" }), { progress: p }), {}, status);
});
