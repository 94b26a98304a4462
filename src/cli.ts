import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { mintAppToken, mintManagementToken } from "./auth/tokens.ts";
import { ConfigError, loadConfig } from "./config/config.ts";
import { loadIdentity } from "./config/identity.ts";
import { describeCredentials, startTapedeck } from "./main.ts";
import { joinSynthetic } from "./participant/synthetic.ts";
import { runSfuShard } from "./shard-main.ts";
import { logStrayRejections } from "./system/stray-rejections.ts";
import { runStorageValidateCli } from "./storage/storage.cli.ts";
import { NODE_USAGE, runNodeCli } from "./cluster/node.cli.ts";
import { controlCharMessage, findControlChar } from "./util/text.ts";

const USAGE = `usage: tapedeck <command>

  serve                      run tapedeck (api, sfu, worker roles per TAPEDECK_ROLES)
  token management [--valid-for SECONDS]
                             print a management token for the REST API (default 24 h)
  token app --room ID --role NAME [--user ID] [--valid-for SECONDS]
                             print an app (peer) token
  participant --room ID [--role host] [--name NAME] [--url URL] [--size 1280x720] [--fps 30] [--duration S] [--view-only]
                             join a room as a synthetic participant publishing a clock and a beep
${NODE_USAGE}
  storage validate --type s3|gs|oss --bucket B [--region R] [--prefix P] [--endpoint URL] --key K [--secret S]
                             write, read and delete a probe object (secret also from TAPEDECK_STORAGE_SECRET)

environment: PORT (8080), TAPEDECK_DATA_DIR (./data), DATABASE_URL, TAPEDECK_ACCESS_KEY, TAPEDECK_APP_SECRET,
             TAPEDECK_RETENTION_DAYS (15), TAPEDECK_PUBLIC_URL, TAPEDECK_TLS_CERT + TAPEDECK_TLS_KEY (HTTPS),
             TAPEDECK_CORS_ORIGINS (*), LOG_LEVEL — see README.md`;

export async function main(argv: string[]): Promise<void> {
  const [command, sub, ...rest] = argv;
  try {
    switch (command) {
      case "serve":
        return await serve();
      case "token":
        return await token(sub, rest);
      case "sfu-shard":
        return await runSfuShard(Number(sub));
      case "participant":
        return await participant([sub, ...rest].filter((x): x is string => x !== undefined));
      case "node":
        process.exitCode = await runNodeCli(loadConfig(), sub, rest);
        return;
      case "storage":
        if (sub !== "validate") break;
        process.exitCode = await runStorageValidateCli(rest, { customerId: existingCustomerId() });
        return;
      case undefined:
      case "help":
      case "--help":
      case "-h":
        console.log(USAGE);
        return;
    }
    console.error(`unknown command: ${argv.join(" ")}\n\n${USAGE}`);
    process.exitCode = 2;
  } catch (err) {
    if (err instanceof ConfigError) console.error(err.message);
    else console.error(`tapedeck: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}

async function serve(): Promise<void> {
  const td = await startTapedeck();
  logStrayRejections(td.ctx.log);
  if (td.generatedCredentials) console.log(describeCredentials(td.ctx.identity));
  const missing = td.tools.filter((t) => !t.ok);
  if (missing.length) {
    console.error(
      ["", "  Recording needs tools that are missing:", ...missing.map((t) => `    - ${t.problem}; fix: ${t.fix}`), ""].join("\n"),
    );
  }
  console.log(`tapedeck is running at ${td.ctx.config.publicUrl} (API: ${td.ctx.config.publicUrl}/v2)`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    td.ctx.log.info({ signal }, "shutting down");
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    await td.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

async function token(kind: string | undefined, args: string[]): Promise<void> {
  const config = loadConfig();
  const { identity } = loadIdentity(config.dataDir);
  const { values } = parseArgs({
    args,
    options: { "valid-for": { type: "string" }, room: { type: "string" }, role: { type: "string" }, user: { type: "string" } },
    strict: true,
  });
  const validFor = values["valid-for"] ? Number(values["valid-for"]) : undefined;
  if (validFor !== undefined && !Number.isInteger(validFor)) throw new Error("--valid-for must be a whole number of seconds");
  if (kind === "management") {
    console.log(await mintManagementToken(identity, validFor));
    return;
  }
  if (kind === "app") {
    if (!values.room || !values.role) throw new Error("token app needs --room <room id> and --role <role name>");
    refuseControlChars("--user", values.user);
    console.log(await mintAppToken(identity, { roomId: values.room, role: values.role, userId: values.user, validForSeconds: validFor }));
    return;
  }
  throw new Error(`unknown token kind ${kind ?? "(none)"}: use 'token management' or 'token app'`);
}

/** Names and user ids end up in other people's screens, logs and CSVs: no control or bidi characters. */
function refuseControlChars(option: string, value: string | undefined): void {
  const code = value === undefined ? null : findControlChar(value);
  if (code) throw new Error(controlCharMessage(option, code));
}

/** The customer id of this data dir, if tapedeck ran here: the default prefix recordings go under. */
function existingCustomerId(): string | undefined {
  const config = loadConfig();
  if (!fs.existsSync(path.join(config.dataDir, "identity.json"))) return undefined;
  return loadIdentity(config.dataDir).identity.customerId;
}

async function participant(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      room: { type: "string" },
      role: { type: "string", default: "host" },
      name: { type: "string", default: "Synthetic" },
      url: { type: "string" },
      size: { type: "string", default: "1280x720" },
      fps: { type: "string", default: "30" },
      duration: { type: "string", default: "0" },
      "view-only": { type: "boolean", default: false },
    },
    strict: true,
  });
  if (!values.room) throw new Error("participant needs --room <room id>");
  refuseControlChars("--name", values.name);
  const size = /^(\d+)x(\d+)$/.exec(values.size!);
  if (!size) throw new Error("--size must look like 1280x720");
  const config = loadConfig();
  const { identity } = loadIdentity(config.dataDir);
  const token = await mintAppToken(identity, { roomId: values.room, role: values.role!, userId: `synthetic-${values.name}` });
  const p = await joinSynthetic({
    baseUrl: values.url ?? config.publicUrl,
    token,
    name: values.name!,
    width: Number(size[1]),
    height: Number(size[2]),
    fps: Number(values.fps),
    durationSeconds: Number(values.duration),
    viewOnly: values["view-only"],
  });
  console.log(`joined as ${values.name} (peer ${p.peerId}, session ${p.sessionId}); Ctrl-C to leave`);
  const report = setInterval(() => {
    const parts = [...p.received].map(([peer, c]) => `${peer.slice(0, 8)}: ${c.video} video / ${c.audio} audio packets`);
    console.log(parts.length ? `receiving ${parts.join(", ")}` : "receiving nothing yet");
  }, 5000);
  process.once("SIGINT", () => void p.leave());
  console.log(`left: ${await p.done}`);
  clearInterval(report);
}
