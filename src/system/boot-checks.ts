import fs from "node:fs";
import { COMPOSITOR_PYTHON, COMPOSITOR_SCRIPT } from "../recorders/compositor/compositor-process.ts";
import { superviseProcess } from "../process/supervisor.ts";

// At boot, tapedeck checks for the media tools recording needs and says exactly what is missing and
// how to install it. The API runs without them; recordings cannot.

export interface ToolCheck {
  name: "ffmpeg" | "ffprobe" | "chromium" | "gstreamer";
  ok: boolean;
  path: string | null;
  version: string | null;
  problem?: string;
  fix?: string;
}

const INSTALL_HINT = "run `bash scripts/ensure-deps.sh` (as root), or `apt-get install -y ffmpeg chromium`";

/** Runs a version or encoder listing under the process supervisor: at most 15 s, its output kept (4 MB at most). */
async function run(cmd: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  const proc = superviseProcess({ name: cmd, command: cmd, args, stdout: "pipe", timeoutMs: 15_000, killGraceMs: 1000, tailLines: 20 });
  let out = "";
  proc.child.stdout?.setEncoding("utf8").on("data", (d: string) => {
    if (out.length < 4 * 1024 * 1024) out += d;
  });
  const end = await proc.ended;
  return { ok: end.reason === "exited", out: `${out}${end.stderrTail.join("\n")}` };
}

export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string | null {
  const candidates = [env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].filter((p): p is string => Boolean(p));
  return candidates.find((p) => fs.existsSync(p)) ?? null;
}

async function checkFfmpeg(): Promise<ToolCheck> {
  const v = await run("ffmpeg", ["-hide_banner", "-version"]);
  if (!v.ok) return { name: "ffmpeg", ok: false, path: null, version: null, problem: "ffmpeg not found on PATH", fix: INSTALL_HINT };
  const version = /ffmpeg version (\S+)/.exec(v.out)?.[1] ?? "unknown";
  const enc = await run("ffmpeg", ["-hide_banner", "-encoders"]);
  const missing = ["libx264", "aac", "libopus"].filter((e) => !new RegExp(`\\s${e}\\s`).test(enc.out));
  if (missing.length) {
    return {
      name: "ffmpeg",
      ok: false,
      path: "ffmpeg",
      version,
      problem: `ffmpeg ${version} lacks encoders: ${missing.join(", ")}`,
      fix: "install Debian's ffmpeg package: apt-get install -y ffmpeg",
    };
  }
  return { name: "ffmpeg", ok: true, path: "ffmpeg", version };
}

async function checkFfprobe(): Promise<ToolCheck> {
  const v = await run("ffprobe", ["-hide_banner", "-version"]);
  if (!v.ok) return { name: "ffprobe", ok: false, path: null, version: null, problem: "ffprobe not found on PATH", fix: INSTALL_HINT };
  return { name: "ffprobe", ok: true, path: "ffprobe", version: /ffprobe version (\S+)/.exec(v.out)?.[1] ?? "unknown" };
}

async function checkChromium(env: NodeJS.ProcessEnv): Promise<ToolCheck> {
  const p = chromiumPath(env);
  if (!p)
    return {
      name: "chromium",
      ok: false,
      path: null,
      version: null,
      problem: "Chromium not found (looked at CHROMIUM_PATH, /usr/bin/chromium)",
      fix: INSTALL_HINT,
    };
  const v = await run(p, ["--version"]);
  if (!v.ok)
    return {
      name: "chromium",
      ok: false,
      path: p,
      version: null,
      problem: `${p} --version failed: ${v.out.trim().slice(0, 200)}`,
      fix: INSTALL_HINT,
    };
  return { name: "chromium", ok: true, path: p, version: /(\d+\.\d+\.\d+\.\d+)/.exec(v.out)?.[1] ?? v.out.trim() };
}

const GST_PACKAGES = "python3-gst-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-libav";

/** The live compositor: Debian's Python with GStreamer's bindings and every element it uses. */
async function checkGstreamer(): Promise<ToolCheck> {
  const fix = `run \`bash scripts/ensure-deps.sh\` (as root), or \`apt-get install -y ${GST_PACKAGES}\`; until then set TAPEDECK_RECORDING_RENDERER=browser`;
  if (!fs.existsSync(COMPOSITOR_PYTHON))
    return { name: "gstreamer", ok: false, path: null, version: null, problem: `${COMPOSITOR_PYTHON} not found`, fix };
  const v = await run(COMPOSITOR_PYTHON, [COMPOSITOR_SCRIPT, "--check"]);
  const out = v.out.trim().split("\n").at(-1) ?? "";
  if (!v.ok)
    return {
      name: "gstreamer",
      ok: false,
      path: COMPOSITOR_PYTHON,
      version: null,
      problem: out.slice(0, 300) || "the compositor check failed",
      fix,
    };
  return { name: "gstreamer", ok: true, path: COMPOSITOR_PYTHON, version: out };
}

export async function runBootChecks(env: NodeJS.ProcessEnv = process.env): Promise<ToolCheck[]> {
  return Promise.all([checkFfmpeg(), checkFfprobe(), checkChromium(env), checkGstreamer()]);
}
