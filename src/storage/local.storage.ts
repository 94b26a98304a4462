import { randomUUID } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { AppError } from "../errors.ts";
import { cleanFileName } from "./content-disposition.ts";
import type { ObjectStorage, PresignOptions, PutOptions } from "./storage.ts";
import { checkSignature, encodeKeyPath, signKey, type SignatureCheck } from "./url-signer.ts";

// The internal bucket: files under `<dataDir>/bucket/`, used when no destination is configured.
// Downloads go through the api (`/internal-bucket/<key>`) with HMAC-signed, expiring links.

const MAX_KEY_LENGTH = 1024;
/** In-progress writes are named `<name>.partial-<uuid>` next to their target, then renamed. */
export const PARTIAL_MARKER = ".partial-";

/** Why a key is refused, or null when it is a safe relative key. Pure; unit-tested. */
export function keyProblem(key: string): string | null {
  if (typeof key !== "string" || key.length === 0) return "key is empty";
  if (key.length > MAX_KEY_LENGTH) return `key is longer than ${MAX_KEY_LENGTH} characters`;
  if (key.includes("\0")) return "key contains a NUL byte";
  if (key.includes("\\")) return "key contains a backslash";
  if (key.startsWith("/")) return "key is an absolute path";
  if (/^[a-zA-Z]:/.test(key)) return "key starts with a drive letter";
  const segments = key.split("/");
  if (segments.some((s) => s === "." || s === "..")) return "key contains a '.' or '..' segment";
  if (segments.some((s) => s === "")) return "key contains an empty segment";
  if (segments.some((s) => s.includes(PARTIAL_MARKER))) return `key contains '${PARTIAL_MARKER}', which marks unfinished writes`;
  return null;
}

export interface LocalStorageOptions {
  root: string;
  /** `config.publicUrl`: where clients reach the api (read per link: with PORT=0 it is known only after listen). */
  publicUrl: string | (() => string);
  /** `identity.urlSigningKey`. */
  signingKey: string;
}

export class LocalStorage implements ObjectStorage {
  readonly kind = "internal" as const;
  readonly root: string;
  private readonly publicUrl: () => string;
  private readonly signingKey: string;

  constructor(opts: LocalStorageOptions) {
    this.root = path.resolve(opts.root);
    const url = opts.publicUrl;
    this.publicUrl = () => (typeof url === "function" ? url() : url).replace(/\/+$/, "");
    this.signingKey = opts.signingKey;
    fs.mkdirSync(this.root, { recursive: true });
  }

  /** The file for a key; throws a 400 `AppError` for keys that are unsafe or would leave the bucket. */
  resolve(key: string): string {
    const problem = keyProblem(key);
    const file = problem ? "" : path.resolve(this.root, key);
    if (problem || !file.startsWith(this.root + path.sep)) {
      throw new AppError("invalid_param", `invalid object key ${JSON.stringify(key)}`, {
        details: [problem ?? "key resolves outside the bucket"],
      });
    }
    return file;
  }

  displayPath(key: string): string {
    return `tapedeck://internal/${key}`;
  }

  async put(key: string, body: Readable | Buffer | string, opts: PutOptions = {}): Promise<{ size: number }> {
    const file = this.resolve(key);
    opts.signal?.throwIfAborted();
    const temp = `${file}${PARTIAL_MARKER}${randomUUID()}`;
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer | string, _enc, done) {
        size += Buffer.byteLength(chunk);
        opts.onProgress?.(size);
        done(null, chunk);
      },
    });
    const source = body instanceof Readable ? body : Readable.from([typeof body === "string" ? Buffer.from(body) : body]);
    try {
      const handle = await this.openForWrite(temp);
      // `flush`: fsync before close, so after a crash the real name holds either nothing or the whole file.
      const out = handle.createWriteStream({ flush: true });
      await pipeline(source, counter, out, opts.signal ? { signal: opts.signal } : {});
      await fsp.rename(temp, file);
    } catch (err) {
      await fsp.rm(temp, { force: true });
      if ((err as { name?: string }).name === "AbortError" || err instanceof AppError) throw err;
      throw new AppError("internal", `cannot write ${this.displayPath(key)}`, { cause: err, details: [(err as Error).message] });
    }
    return { size };
  }

  async get(key: string): Promise<Readable> {
    const file = this.resolve(key);
    try {
      const handle = await fsp.open(file, "r");
      if (!(await handle.stat()).isFile()) {
        await handle.close();
        throw Object.assign(new Error("not a file"), { code: "ENOENT" });
      }
      return handle.createReadStream();
    } catch (err) {
      throw this.readError(err, key);
    }
  }

  async head(key: string): Promise<{ size: number } | null> {
    const file = this.resolve(key);
    const st = await fsp.stat(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT" || err.code === "ENOTDIR") return null;
      throw err;
    });
    return st?.isFile() ? { size: st.size } : null;
  }

  async delete(key: string): Promise<void> {
    const file = this.resolve(key);
    await fsp.rm(file, { force: true });
    // Prune folders left empty, up to (not including) the bucket root. rmdir refuses non-empty ones.
    for (let dir = path.dirname(file); dir !== this.root && dir.startsWith(this.root + path.sep); dir = path.dirname(dir)) {
      const removed = await fsp.rmdir(dir).then(
        () => true,
        () => false,
      );
      if (!removed) break;
    }
  }

  /** `downloadName` is signed with the link (`&filename=`): the download route names the file so. A number is `nowMs` (tests). */
  async presignGet(
    key: string,
    expiresInSeconds: number,
    optsOrNowMs: (PresignOptions & { nowMs?: number }) | number = {},
  ): Promise<string> {
    const opts = typeof optsOrNowMs === "number" ? { nowMs: optsOrNowMs } : optsOrNowMs;
    this.resolve(key);
    const expires = Math.floor((opts.nowMs ?? Date.now()) / 1000) + Math.max(1, Math.floor(expiresInSeconds));
    const filename = opts.downloadName ? cleanFileName(opts.downloadName) : undefined;
    const signature = signKey(this.signingKey, key, expires, filename);
    const named = filename ? `&filename=${encodeURIComponent(filename)}` : "";
    return `${this.publicUrl()}/internal-bucket/${encodeKeyPath(key)}?expires=${expires}${named}&signature=${signature}`;
  }

  /** Checks a download link's `expires`, `filename` (when it has one) and `signature` for `key`. */
  checkLink(
    key: string,
    expires: string | undefined,
    signature: string | undefined,
    nowMs: number = Date.now(),
    filename?: string,
  ): SignatureCheck {
    return checkSignature({ signingKey: this.signingKey, key, expires, signature, filename, nowSeconds: Math.floor(nowMs / 1000) });
  }

  /** Opens the temp file, creating folders; retries if the sweeper removed an empty folder in between. */
  private async openForWrite(temp: string): Promise<fsp.FileHandle> {
    for (let attempt = 1; ; attempt++) {
      await fsp.mkdir(path.dirname(temp), { recursive: true });
      try {
        return await fsp.open(temp, "wx", 0o640);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT" || attempt >= 3) throw err;
      }
    }
  }

  private readError(err: unknown, key: string): AppError {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR") {
      return new AppError("not_found", `object ${this.displayPath(key)} does not exist`, {
        details: ["the file is not in the internal bucket; retention may have removed it"],
      });
    }
    return new AppError("internal", `cannot read ${this.displayPath(key)}`, { cause: err });
  }
}
