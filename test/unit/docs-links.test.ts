import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

// The README is a front door and the reference lives in docs/: every relative link in README.md and
// docs/*.md must reach a file of the repository, every #anchor a heading of its page (GitHub's rule for
// heading ids), and no page may point at files that are not in the repository (ARCHITECTURE.md, a
// reference/ folder). docs/configuration.md must name every setting src/config/config.ts reads.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const pages = (): string[] => [
  "README.md",
  ...fs
    .readdirSync(path.join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** The text outside fenced code blocks, line by line (links and headings in code do not count). */
function proseLines(markdown: string): string[] {
  const out: string[] = [];
  let fence: string | null = null;
  for (const line of markdown.split("\n")) {
    const m = /^\s*(`{3,}|~{3,})/.exec(line);
    if (m) {
      if (fence === null) fence = m[1][0];
      else if (m[1][0] === fence) fence = null;
      continue;
    }
    if (fence === null) out.push(line);
  }
  return out;
}

/** GitHub's heading ids: lower case, punctuation dropped (not `-` or `_`), spaces to `-`, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const ids = new Set<string>();
  for (const line of proseLines(markdown)) {
    const h = /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const text = h[1].replace(/\[([^\]]*)\]\([^)]*\)/g, "$1");
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    ids.add(n === 0 ? base : `${base}-${n}`);
  }
  return ids;
}

/** `[text](target)` links outside code, with their line numbers. */
function links(markdown: string): Array<{ target: string; line: number }> {
  const out: Array<{ target: string; line: number }> = [];
  const lines = markdown.split("\n");
  const prose = new Set(proseLines(markdown));
  lines.forEach((line, i) => {
    if (!prose.has(line)) return;
    const text = line.replace(/`[^`]*`/g, "");
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) out.push({ target: m[1], line: i + 1 });
  });
  return out;
}

test("every relative link and #anchor in README.md and docs/*.md resolves", () => {
  const problems: string[] = [];
  for (const page of pages()) {
    const text = fs.readFileSync(path.join(ROOT, page), "utf8");
    for (const { target, line } of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [file, anchor] = target.split("#", 2);
      const resolved = file ? path.resolve(ROOT, path.dirname(page), file) : path.join(ROOT, page);
      const where = `${page}:${line} → ${target}`;
      if (!resolved.startsWith(ROOT + path.sep)) {
        problems.push(`${where}: outside the repository`);
        continue;
      }
      if (!fs.existsSync(resolved)) {
        problems.push(`${where}: no such file`);
        continue;
      }
      if (anchor !== undefined && resolved.endsWith(".md") && !anchors(fs.readFileSync(resolved, "utf8")).has(anchor)) {
        problems.push(`${where}: no heading with this id in ${path.relative(ROOT, resolved)}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

test("no page points at files that are not in the repository (ARCHITECTURE.md, reference/)", () => {
  const problems: string[] = [];
  for (const page of pages()) {
    const text = fs.readFileSync(path.join(ROOT, page), "utf8");
    text.split("\n").forEach((line, i) => {
      if (/ARCHITECTURE\.md|(^|[\s(`/])reference\/[\w.-]+\.md/.test(line)) problems.push(`${page}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(problems, []);
});

test("docs/configuration.md names every setting of src/config/config.ts", () => {
  const source = fs.readFileSync(path.join(ROOT, "src/config/config.ts"), "utf8");
  const schema = source.slice(source.indexOf("const envFields"), source.indexOf("const envSchema"));
  const settings = [...schema.matchAll(/^\s{2}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]);
  assert.ok(settings.length > 20, `found only ${settings.length} settings in config.ts; has its schema moved?`);
  const doc = fs.readFileSync(path.join(ROOT, "docs/configuration.md"), "utf8");
  assert.deepEqual(
    settings.filter((s) => !doc.includes(`\`${s}\``)),
    [],
  );
});
