import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";

// Dependencies point down: every file under src/ belongs to a layer by its top folder (or its own name,
// for files directly in src/), and may import only its own layer or lower ones. Inside the feature
// layer, features may use each other, but two feature folders must not import each other (directly or
// round a longer loop). Known exceptions are listed below, each with its reason; an exception that is
// no longer needed fails the test too, so the lists only shrink.
//
// Type-only imports count. A type is still a dependency: a change up there breaks the code down here,
// and a type import is how cycles creep back (media/composite-args.ts imported only types from
// recorders/). Imports are read with TypeScript's own pre-processor (static imports and re-exports,
// `import "x"`, dynamic `import("x")`), so comments and strings that look like imports are not counted.

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src");

/** Lowest first. A new top folder must be placed here (the test says so). */
const LAYERS: ReadonlyArray<{ name: string; members: readonly string[] }> = [
  // Pure rules, argument builders, the process runner and supervisor, helpers: node built-ins and packages only.
  // quality: measuring a finished media file (it runs ffmpeg through media/).
  { name: "foundation", members: ["util", "ids.ts", "errors.ts", "log.ts", "domain", "media", "process", "quality"] },
  // Settings, keys, the database, tokens, the outbound network policy, the persisted job queue.
  { name: "infrastructure", members: ["config", "crypto", "db", "auth", "net", "jobs"] },
  // What every feature is handed: storage, webhooks, the HTTP server plumbing, the app context.
  { name: "platform", members: ["storage", "webhooks", "api", "app-context.ts"] },
  // Features: the /v2 resources, the SFU, the recorders, the pages, health.
  {
    name: "features",
    members: ["templates", "rooms", "sessions", "assets", "sfu", "recorders", "participant", "web", "system", "analytics", "cluster"],
  },
  // The composition root and the command line.
  { name: "entry", members: ["main.ts", "shard-main.ts", "cli.ts"] },
];
const FEATURES = LAYERS.findIndex((l) => l.name === "features");

/** Imports of a higher layer that are known and not yet removed: "from (under src/) -> imported file". */
const ALLOWED_UPWARD: Readonly<Record<string, string>> = {
  // POST /v2/storage/validate is a feature route kept beside the storage service it calls; it reads a
  // room's or template's saved destination. Moving it to a feature folder removes both entries.
  "storage/storage.routes.ts -> rooms/room.service.ts": "a /v2 feature route inside storage/",
  "storage/storage.routes.ts -> templates/template.service.ts": "a /v2 feature route inside storage/",
};

/**
 * Feature-folder imports that close a loop, known and not yet removed: "from>to". The loop check runs
 * without them; one that no longer closes a loop must be deleted.
 */
const ALLOWED_LOOP_EDGES: Readonly<Record<string, string>> = {
  // The SFU starts track recordings (recorders/sfu), and the track recorder types its input with the SFU's PublishedTrack.
  "recorders/sfu>sfu": "track-recording.service.ts imports the type sfu/published-track.ts",
  // The live compositor joins rooms as a client of the SFU's signalling (its message types and codec list),
  // while the SFU's 100ms signalling starts recordings (sfu/hms -> recorders/browser -> the compositor).
  "recorders/compositor>sfu": "room-feed.ts and compositor-capture.ts speak sfu/protocol.ts with sfu/media-config.ts's codecs",
};

interface Edge {
  from: string;
  to: string;
}

function listSources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return listSources(full);
    return e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [full] : [];
  });
}

/** Relative imports of every file under src/, as paths relative to src/ ("sfu/sfu.ts"). */
function readEdges(): Edge[] {
  const edges: Edge[] = [];
  for (const file of listSources(SRC)) {
    const { importedFiles } = ts.preProcessFile(fs.readFileSync(file, "utf8"), true, true);
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith(".")) continue; // packages and node: built-ins
      const target = path.resolve(path.dirname(file), fileName);
      if (!target.startsWith(SRC + path.sep)) continue; // outside src/ (bin/, package.json)
      edges.push({ from: path.relative(SRC, file).split(path.sep).join("/"), to: path.relative(SRC, target).split(path.sep).join("/") });
    }
  }
  return edges;
}

const topOf = (rel: string): string => rel.split("/")[0];
/**
 * The unit the loop check works on: a top folder, except recorders/, where each kind of recording
 * (recorders/sfu, recorders/browser, recorders/hls, recorders/rtmp) and the shared parts (recorders/core, recorders/chat)
 * count on their own, so two kinds importing each other is a loop like two features doing so.
 */
const unitOf = (rel: string): string => {
  const parts = rel.split("/");
  return parts[0] === "recorders" && parts.length > 2 ? `recorders/${parts[1]}` : parts[0];
};
/** The parts every kind of recording builds on: they import no kind. */
const RECORDER_SHARED = ["recorders/core", "recorders/chat"];
const layerOf = (rel: string): number => LAYERS.findIndex((l) => l.members.includes(topOf(rel)));

/** Strongly connected groups of more than one folder in a folder graph (Tarjan). */
function folderCycles(graph: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      group.push(w);
    } while (w !== v);
    if (group.length > 1) groups.push(group.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return groups;
}

/** Imports of a higher layer, each with the message that names the file, the import and both layers. */
function findUpward(all: Edge[]): Array<{ key: string; message: string }> {
  return all
    .filter((e) => layerOf(e.to) > layerOf(e.from))
    .map((e) => ({
      key: `${e.from} -> ${e.to}`,
      message: `src/${e.from} (${LAYERS[layerOf(e.from)].name}) imports src/${e.to} (${LAYERS[layerOf(e.to)].name}, a higher layer)`,
    }));
}

const edges = readEdges();

test("the import reader sees this codebase's imports (so an empty result cannot pass the test)", () => {
  assert.ok(edges.length > 300, `only ${edges.length} imports found under ${SRC}`);
  const typeOnly = edges.some((e) => e.from === "main.ts" && e.to === "app-context.ts");
  assert.ok(typeOnly, "a type-only import (main.ts → app-context.ts) is counted");
});

test("every top folder and top-level file of src/ has a layer", () => {
  const tops = [...new Set(listSources(SRC).map((f) => topOf(path.relative(SRC, f).split(path.sep).join("/"))))];
  const unplaced = tops.filter((t) => layerOf(t) < 0);
  assert.deepEqual(unplaced, [], `place these in LAYERS in ${path.basename(fileURLToPath(import.meta.url))}: ${unplaced.join(", ")}`);
});

test("no file imports a higher layer", () => {
  const upward = findUpward(edges);
  const problems = upward.filter((u) => !(u.key in ALLOWED_UPWARD)).map((u) => u.message);
  const fix = "move what is shared down (to util/, domain/ or media/), or pass it in from above";
  assert.deepEqual(problems, [], `${fix}:\n${problems.join("\n")}`);
  const stale = Object.keys(ALLOWED_UPWARD).filter((k) => !upward.some((u) => u.key === k));
  assert.deepEqual(stale, [], "these ALLOWED_UPWARD exceptions are gone from the code: delete them from the list");
});

/** Whether `to` can be reached from `from` in a folder graph. */
function reaches(graph: Map<string, Set<string>>, from: string, to: string): boolean {
  const seen = new Set<string>();
  const walk = (v: string): boolean => v === to || (!seen.has(v) && (seen.add(v), [...(graph.get(v) ?? [])].some(walk)));
  return walk(from);
}

test("feature folders do not import each other round a loop", () => {
  const graph = new Map<string, Set<string>>();
  const files = new Map<string, string[]>();
  for (const e of edges) {
    const [a, b] = [unitOf(e.from), unitOf(e.to)];
    if (a === b || layerOf(e.from) !== FEATURES || layerOf(e.to) !== FEATURES) continue;
    if (!graph.has(a)) graph.set(a, new Set());
    graph.get(a)!.add(b);
    files.set(`${a}>${b}`, [...(files.get(`${a}>${b}`) ?? []), `src/${e.from} -> src/${e.to}`]);
  }
  const allowed = new Set(Object.keys(ALLOWED_LOOP_EDGES));
  const checked = new Map([...graph].map(([a, tos]) => [a, new Set([...tos].filter((b) => !allowed.has(`${a}>${b}`)))]));
  const problems = folderCycles(checked).map((g) => {
    const inside = [...files].filter(([pair]) => !allowed.has(pair) && pair.split(">").every((f) => g.includes(f))).flatMap(([, f]) => f);
    return `${g.join(" ↔ ")}:\n  ${inside.join("\n  ")}`;
  });
  assert.deepEqual(problems, [], `break each loop (move the shared piece down, or emit an event on ctx.events):\n${problems.join("\n")}`);
  const stale = [...allowed].filter((pair) => {
    const [a, b] = pair.split(">");
    return !graph.get(a)?.has(b) || !reaches(graph, b, a);
  });
  assert.deepEqual(stale, [], "these ALLOWED_LOOP_EDGES no longer close a loop: delete them from the list");
});

test("the recorders' shared core and chat output import no kind of recording", () => {
  const problems = edges
    .filter(
      (e) => RECORDER_SHARED.includes(unitOf(e.from)) && unitOf(e.to).startsWith("recorders/") && !RECORDER_SHARED.includes(unitOf(e.to)),
    )
    .map((e) => `src/${e.from} -> src/${e.to}`);
  assert.deepEqual(
    problems,
    [],
    `the shared recorder parts must stay below the kinds (pass what a kind knows in from the kind):\n${problems.join("\n")}`,
  );
  const kinds = [
    ...new Set(listSources(path.join(SRC, "recorders")).map((f) => unitOf(path.relative(SRC, f).split(path.sep).join("/")))),
  ].sort();
  assert.deepEqual(
    kinds,
    [
      "recorders/browser",
      "recorders/chat",
      "recorders/compose",
      "recorders/compositor",
      "recorders/core",
      "recorders/hls",
      "recorders/rtmp",
      "recorders/sfu",
    ],
    "every file under recorders/ is in a kind's folder or a shared one",
  );
});

test("the checks catch what they are for (planted imports)", () => {
  const planted = [
    { from: "media/composite-args.ts", to: "recorders/sfu/composite-layout.ts" },
    { from: "config/config.ts", to: "recorders/hls/ladder.ts" },
    { from: "main.ts", to: "sfu/sfu.ts" },
  ];
  assert.deepEqual(
    findUpward(planted).map((u) => u.message),
    [
      "src/media/composite-args.ts (foundation) imports src/recorders/sfu/composite-layout.ts (features, a higher layer)",
      "src/config/config.ts (infrastructure) imports src/recorders/hls/ladder.ts (features, a higher layer)",
    ],
  );
  const loop = new Map([
    ["a", new Set(["b"])],
    ["b", new Set(["c"])],
    ["c", new Set(["a"])],
    ["d", new Set(["a"])],
  ]);
  assert.deepEqual(folderCycles(loop), [["a", "b", "c"]]);
});
