import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

// A real RTMP server for the RTMP-out tests: node-media-server (devDependency) as a child process on
// free loopback ports, with its own config (no RTMPS/HTTPS listeners, so parallel test files never
// collide on its default ports), recording every stream pushed to it as `<dir>/rec/live/<key>/<ms>.flv`.

export interface RtmpServer {
  /** rtmp://127.0.0.1:<port> */
  base: string;
  /** The FLV files it recorded for a stream key, oldest first. */
  recorded(key: string): string[];
  close(): Promise<void>;
}

/** A loopback port nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export async function startRtmpServer(): Promise<RtmpServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-rtmp-"));
  const rtmpPort = await freePort();
  const httpPort = await freePort();
  const config = {
    bind: "127.0.0.1",
    notify: { url: "" },
    store: { path: path.join(dir, "data"), maxHistory: 100 },
    auth: { play: false, publish: false, secret: "test" },
    rtmp: { port: rtmpPort },
    http: { port: httpPort },
    webadmin: { enable: false },
    record: { auto: true, path: path.join(dir, "rec") },
  };
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(config));
  const child: ChildProcess = spawn(process.execPath, ["node_modules/node-media-server/bin/app.js", "-c", path.join(dir, "config.json")], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node-media-server did not start in 15 s: ${output.slice(-500)}`)), 15_000);
    const onData = (d: Buffer) => {
      output += d.toString();
      if (/Rtmp Server listening/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`node-media-server exited (${code}): ${output.slice(-500)}`));
    });
  });
  return {
    base: `rtmp://127.0.0.1:${rtmpPort}`,
    recorded(key) {
      const d = path.join(dir, "rec", "live", key);
      return fs.existsSync(d)
        ? fs
            .readdirSync(d)
            .filter((f) => f.endsWith(".flv"))
            .sort()
            .map((f) => path.join(d, f))
        : [];
    },
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
