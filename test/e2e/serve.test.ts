import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { test } from "node:test";

// The quick start as a user runs it: `tapedeck serve` on a fresh data dir prints the credentials
// once, answers on /health and /v2 with a token from `tapedeck token management`, and stops cleanly.

const bin = path.resolve("bin/tapedeck.js");

test("tapedeck serve: credentials printed once, API reachable, clean stop on SIGTERM", async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-serve-"));
  const env = { ...process.env, PORT: "0", HOST: "127.0.0.1", TAPEDECK_DATA_DIR: dataDir, LOG_LEVEL: "info" };
  try {
    const run = async (): Promise<{ stdout: string[]; url: string; stop: () => Promise<number | null> }> => {
      const child = spawn(process.execPath, [bin, "serve"], { env, stdio: ["ignore", "pipe", "pipe"] });
      const stdout: string[] = [];
      const url = await new Promise<string>((resolve, reject) => {
        child.once("exit", (c) => reject(new Error(`serve exited with ${c}: ${stdout.join("\n")}`)));
        readline.createInterface({ input: child.stdout! }).on("line", (line) => {
          stdout.push(line);
          const m = /tapedeck is running at (http:\/\/\S+) /.exec(line);
          if (m) resolve(m[1]);
        });
      });
      return {
        stdout,
        url,
        stop: () =>
          new Promise((resolve) => {
            child.once("exit", (code) => resolve(code));
            child.kill("SIGTERM");
          }),
      };
    };

    const first = await run();
    const printed = first.stdout.join("\n");
    const accessKey = /access key : (\S+)/.exec(printed)?.[1];
    const secret = /app secret : (\S+)/.exec(printed)?.[1];
    assert.ok(accessKey && secret, `credentials not printed:\n${printed}`);

    const health = await fetch(`${first.url}/health`).then((r) => r.json());
    assert.equal(health.status, "ok");
    assert.equal(health.database, "sqlite");

    const token = execFileSync(process.execPath, [bin, "token", "management"], { env }).toString().trim();
    const rooms = await fetch(`${first.url}/v2/rooms`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(rooms.status, 200);
    const created = await fetch(`${first.url}/v2/rooms`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "kept-across-restarts" }),
    });
    assert.equal(created.status, 200);
    assert.equal(await first.stop(), 0);

    // Second start on the same data dir: same credentials, not printed again, data kept.
    const second = await run();
    assert.ok(!second.stdout.join("\n").includes(secret), "the secret was printed a second time");
    const list = await fetch(`${second.url}/v2/rooms?name=kept-across-restarts`, { headers: { authorization: `Bearer ${token}` } }).then(
      (r) => r.json(),
    );
    assert.equal(list.data.length, 1);
    assert.equal(await second.stop(), 0);
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test("tapedeck with a bad setting refuses to start and says which", () => {
  let out = "";
  try {
    execFileSync(process.execPath, [bin, "serve"], { env: { ...process.env, PORT: "not-a-port" }, stdio: "pipe" });
  } catch (e) {
    out = String((e as { stderr: Buffer }).stderr);
  }
  assert.match(out, /PORT="not-a-port"/);
});
