import fs from "node:fs";

// tapedeck's data (the app secret, the database with sealed secrets, recordings) is private to the user
// it runs as: directories 0700, files 0600. Paths found with looser modes at boot are tightened and
// reported, so the log says what was changed.

export interface ModeChange {
  path: string;
  from: string;
  to: string;
  /** Set when the change failed (e.g. the path belongs to another user). */
  error?: string;
}

const octal = (m: number): string => `0${m.toString(8)}`;

/** Sets `file` to `mode` if it grants anything to group or others; null when it is absent or already private. */
export function tightenMode(file: string, mode: number): ModeChange | null {
  let current: number;
  try {
    current = fs.statSync(file).mode & 0o777;
  } catch {
    return null; // not there (yet): it will be created under the private umask
  }
  if ((current & 0o077) === 0) return null;
  const change: ModeChange = { path: file, from: octal(current), to: octal(mode) };
  try {
    fs.chmodSync(file, mode);
  } catch (err) {
    change.error = (err as Error).message;
  }
  return change;
}
