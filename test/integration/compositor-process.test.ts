import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { createLogger } from "../../src/log.ts";
import { describeEnd } from "../../src/process/supervisor.ts";
import { probe } from "../../src/media/process.ts";
import { COMPOSITOR_SCRIPT, CompositorProcess } from "../../src/recorders/compositor/compositor-process.ts";
import { fixtureDir } from "../support/media-fixtures.ts";

// The compositor process on its own, on a loaded machine: its canvas or its silence (the live sources
// that keep the output going with no tile and no voice) may give their first buffer well after their
// caps. Its mixers skip pads that have had no buffer yet, and a mixer with every pad skipped ends its
// stream: that once left recordings without sound (the silence was late) or with nothing at all (the
// canvas was late), about once per CI run. test/support/slow-base-compositor.py makes it repeatable:
// the base source's first buffer is held 1 s, longer than the mixers' latency.

const SLOW_BASE = path.join(path.dirname(fileURLToPath(import.meta.url)), "../support/slow-base-compositor.py");
const RECORD_MS = 2500;

/** The time of the stream's last packet (a streamed Matroska file carries no duration). */
function lastPacketSeconds(file: string, stream: "v" | "a"): number {
  const out = execFileSync("ffprobe", [
    "-v",
    "error",
    "-select_streams",
    stream,
    "-show_entries",
    "packet=pts_time",
    "-of",
    "csv=p=0",
    file,
  ]);
  const times = out.toString().match(/\d+\.\d+/g) ?? ["0"];
  return Number(times.at(-1));
}

for (const base of ["audio", "video"] as const) {
  test(`a compositor whose ${base === "audio" ? "silence" : "black canvas"} starts late keeps going: its output has picture and sound`, async () => {
    const dir = fixtureDir(`tapedeck-compositor-slow-${base}-`);
    const chunks: Buffer[] = [];
    process.env.COMPOSITOR_SCRIPT = COMPOSITOR_SCRIPT;
    process.env.SLOW_BASE = base;
    const comp = new CompositorProcess({
      script: SLOW_BASE,
      width: 640,
      height: 360,
      videoKbps: 800,
      held: true,
      log: createLogger("silent"),
      onData: (c) => chunks.push(c),
    });
    let stopping = false;
    let endedEarly: string | null = null;
    void comp.ended.then((e) => {
      if (!stopping) endedEarly = describeEnd(e);
    });
    await comp.ready;
    // Resumed at once, as a recording whose picture is complete at its start: no track came yet.
    comp.resume();
    await new Promise((r) => setTimeout(r, RECORD_MS));
    assert.equal(endedEarly, null, "the compositor ended by itself before its stop");
    stopping = true;
    const end = await comp.stop();
    assert.equal(end.code, 0, `${end.reason} ${end.signal ?? ""} ${end.stderrTail.join(" | ")}`);
    const file = path.join(dir.dir, "out.mkv");
    fs.writeFileSync(file, Buffer.concat(chunks));
    const p = await probe(file);
    assert.deepEqual(p.streams.map((s) => s.codec_name).sort(), ["h264", "opus"], "a video and an audio stream");
    // The output starts at the resume; the late source held everything back for up to a second of it.
    for (const stream of ["v", "a"] as const) {
      const seconds = lastPacketSeconds(file, stream);
      assert.ok(seconds >= 1, `${stream === "v" ? "video" : "audio"}: ${seconds} s`);
    }
    dir.remove();
  });
}
