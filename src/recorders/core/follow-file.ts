import fsp from "node:fs/promises";
import { Readable } from "node:stream";

// A Readable of a file that is still being written: it reads what is there, waits for `grew()` when it
// has caught up, and ends after `end()` once everything is read. The recorder writes its MP4 to the spool
// file and the upload reads it through this, so a slow destination never holds media in memory and a
// failed upload leaves the whole file on disk for the retry.

export class FileFollower {
  /** Readers waiting for more (the upload, the quality analysis: each reads the file on its own). */
  private readonly waiting = new Set<() => void>();
  private ended = false;
  /** Bumped by every grew(): a read that started before a bump must look again instead of waiting. */
  private version = 0;

  constructor(
    private readonly file: string,
    private readonly chunkBytes = 1 << 20,
  ) {}

  /** More bytes were appended. */
  grew(): void {
    this.version++;
    const woken = [...this.waiting];
    this.waiting.clear();
    for (const w of woken) w();
  }

  /** The writer is done: the stream ends once it has read the file to its end. */
  end(): void {
    this.ended = true;
    this.grew();
  }

  stream(): Readable {
    let position = 0;
    let handle: fsp.FileHandle | null = null;
    const self = this;
    return new Readable({
      async read() {
        try {
          handle ??= await fsp.open(self.file, "r");
          for (;;) {
            const ended = self.ended; // read before reading, so bytes written before end() are not missed
            const version = self.version;
            const buf = Buffer.alloc(self.chunkBytes);
            const { bytesRead } = await handle.read(buf, 0, buf.length, position);
            if (bytesRead > 0) {
              position += bytesRead;
              this.push(buf.subarray(0, bytesRead));
              return;
            }
            if (ended) {
              await handle.close();
              handle = null;
              this.push(null);
              return;
            }
            if (version !== self.version) continue;
            await new Promise<void>((resolve) => self.waiting.add(resolve));
          }
        } catch (err) {
          this.destroy(err as Error);
        }
      },
      destroy(err, cb) {
        const h = handle;
        handle = null;
        (h ? h.close() : Promise.resolve()).then(
          () => cb(err),
          () => cb(err),
        );
      },
    });
  }
}
