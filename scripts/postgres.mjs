// Starts a throwaway PostgreSQL server from the machine's own binaries (Debian's `postgresql`
// package), for the test suite. As root it runs the server as the `postgres` user, since
// PostgreSQL refuses to run as root.
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export function findPgBin() {
  const candidates = [];
  if (process.env.PG_BIN) candidates.push(process.env.PG_BIN);
  const base = "/usr/lib/postgresql";
  if (fs.existsSync(base)) {
    for (const v of fs.readdirSync(base).sort((a, b) => Number(b) - Number(a))) candidates.push(path.join(base, v, "bin"));
  }
  const found = candidates.find((d) => fs.existsSync(path.join(d, "initdb")) && fs.existsSync(path.join(d, "postgres")));
  if (!found) {
    throw new Error(
      "PostgreSQL server binaries not found (looked in PG_BIN and /usr/lib/postgresql/*/bin). " +
        "Install them with: apt-get install -y postgresql   (scripts/ensure-deps.sh does this)",
    );
  }
  return found;
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export async function startPostgres() {
  const bin = findPgBin();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-pg-"));
  const dataDir = path.join(dir, "data");
  const asRoot = process.getuid?.() === 0;
  let user = {};
  if (asRoot) {
    try {
      user = {
        uid: Number(execFileSync("id", ["-u", "postgres"]).toString().trim()),
        gid: Number(execFileSync("id", ["-g", "postgres"]).toString().trim()),
      };
    } catch {
      throw new Error("running as root needs a `postgres` system user to run PostgreSQL; apt-get install -y postgresql creates it");
    }
    fs.chmodSync(dir, 0o755);
    fs.chownSync(dir, user.uid, user.gid);
  }
  execFileSync(path.join(bin, "initdb"), ["-D", dataDir, "-U", "tapedeck", "--auth=trust", "-E", "UTF8", "--no-sync"], {
    stdio: "ignore",
    ...user,
  });
  const port = await freePort();
  const [cmd, args] = [
    path.join(bin, "postgres"),
    [
      "-D",
      dataDir,
      "-p",
      String(port),
      "-k",
      dir,
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "fsync=off",
      "-c",
      "synchronous_commit=off",
      "-c",
      "full_page_writes=off",
      "-c",
      "max_connections=300",
    ],
  ];
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"], ...user });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const url = `postgres://tapedeck@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited: ${stderr}`);
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.end();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok && stderr.includes("ready to accept connections")) break;
    if (Date.now() > deadline) throw new Error(`postgres did not start in 30 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGINT");
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
