import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { WebSocket } from "ws";
import { ChromiumProcess, relayPipe } from "../../src/recorders/browser/chromium-process.ts";

// The recorder's Chromium runs under the process supervisor; Playwright reaches its DevTools pipe
// through a one-connection relay on loopback.

const processesInGroup = (pgid: number) =>
  execFileSync("ps", ["-eo", "pid=,pgid=,stat="])
    .toString()
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter(([, g, stat]) => Number(g) === pgid && !stat.startsWith("Z")) // a zombie is dead, waiting for init to reap it
    .map(([pid]) => Number(pid));

const profileOf = (pid: number) =>
  fs
    .readFileSync(`/proc/${pid}/cmdline`, "utf8")
    .split("\0")
    .find((a) => a.startsWith("--user-data-dir="))
    ?.slice("--user-data-dir=".length);

test("the relay passes NUL-terminated pipe messages as WebSocket messages both ways, to one client at the secret path only", async () => {
  const toChromium = new PassThrough();
  const fromChromium = new PassThrough();
  const relay = await relayPipe(toChromium, fromChromium);
  const port = new URL(relay.url).port;

  const wrongPath = new WebSocket(`ws://127.0.0.1:${port}/guess`);
  const refused = await new Promise<number>((resolve) =>
    wrongPath.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0)),
  );
  assert.equal(refused, 400, "a path other than the secret one is refused");

  const ws = new WebSocket(relay.url);
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  const received: string[] = [];
  ws.on("message", (m) => received.push(String(m)));

  ws.send('{"id":1,"method":"Browser.getVersion"}');
  const written = await new Promise<Buffer>((resolve) => toChromium.once("data", resolve));
  assert.equal(written.toString(), '{"id":1,"method":"Browser.getVersion"}\0');

  // Two messages in one chunk, a third split across chunks.
  fromChromium.write('{"id":1,"result":{}}\0{"method":"A"}\0{"meth');
  fromChromium.write('od":"B"}\0');
  await new Promise<void>((resolve) => {
    const check = () => (received.length === 3 ? resolve() : ws.once("message", () => setImmediate(check)));
    check();
  });
  assert.deepEqual(received, ['{"id":1,"result":{}}', '{"method":"A"}', '{"method":"B"}']);

  const second = new WebSocket(relay.url);
  const secondRefused = await new Promise<boolean>((resolve) => {
    second.once("unexpected-response", () => resolve(true));
    second.once("open", () => resolve(false));
  });
  assert.ok(secondRefused, "a second client is refused while the first is connected");

  const closed = new Promise((resolve) => ws.once("close", resolve));
  fromChromium.end(); // Chromium exited
  await closed;
  relay.stopListening();
});

test("Chromium under the supervisor: a page works; a close ends its whole process group and removes its profile", async () => {
  const c = await ChromiumProcess.launch();
  const pid = c.process.pid as number;
  const profile = profileOf(pid);
  assert.ok(profile && fs.existsSync(profile), "a temporary profile folder");
  const page = await (await c.browser.newContext({ viewport: { width: 640, height: 360 } })).newPage();
  await page.setContent("<p>hello</p>");
  assert.equal(await page.evaluate("document.querySelector('p').textContent"), "hello");
  assert.ok(processesInGroup(pid).length > 1, "Chromium's helpers run in its own process group");

  const end = await c.close();
  assert.equal(end.reason, "exited", "asked over DevTools, Chromium exits by itself");
  assert.deepEqual(processesInGroup(pid), [], "nothing it started is left");
  assert.equal(fs.existsSync(profile), false, "its profile folder is removed");
});

test("a killed Chromium reports killed and leaves nothing behind", async () => {
  const c = await ChromiumProcess.launch();
  const pid = c.process.pid as number;
  const disconnected = new Promise((resolve) => c.browser.once("disconnected", resolve));
  const end = await c.kill();
  await disconnected;
  assert.equal(end.reason, "killed");
  assert.deepEqual(processesInGroup(pid), []);
});
