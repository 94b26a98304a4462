import type { SfuPeer } from "./peer.ts";
import { SignalError } from "./signal-error.ts";

// The session store of a room (the 100ms SDK's `sessionStore`; Prebuilt keeps its pinned messages in
// it): JSON values by key for as long as the session lasts, each set seen by every peer with a version
// so a writer can refuse to overwrite a change it has not seen (`if_version`). In memory, in the SFU
// process that holds the room: it goes when the session closes (or the process restarts).

const MAX_SESSION_KEYS = 100;
const MAX_SESSION_VALUE_BYTES = 16 * 1024;

interface Value {
  data: unknown;
  version: number;
  updated_by: string;
  updated_at: number;
}

export class SessionData {
  private readonly values = new Map<string, Value>();

  /** `audience`: the peers every change is announced to (the room's visible peers). */
  constructor(private readonly audience: () => SfuPeer[]) {}

  set(by: SfuPeer, req: { key: string; data: unknown; if_version?: number; ref?: string }): void {
    const size = Buffer.byteLength(JSON.stringify(req.data));
    if (size > MAX_SESSION_VALUE_BYTES)
      throw new SignalError(
        "payload_too_large",
        "too_large",
        `a session store value is at most ${MAX_SESSION_VALUE_BYTES} bytes (this one ${size})`,
      );
    const current = this.values.get(req.key);
    if (!current && this.values.size >= MAX_SESSION_KEYS)
      throw new SignalError("invalid_body", "too_many_keys", `the session store holds at most ${MAX_SESSION_KEYS} keys`);
    const version = current?.version ?? 0;
    if (req.if_version !== undefined && req.if_version !== version)
      throw new SignalError("conflict", "conflict", `key ${req.key} is at version ${version}, not ${req.if_version}`);
    const value = { data: req.data, version: version + 1, updated_by: by.id, updated_at: Date.now() };
    this.values.set(req.key, value);
    const peers = this.audience();
    for (const p of peers) p.notify({ type: "session-data", key: req.key, ...value, ...(p === by && req.ref ? { ref: req.ref } : {}) });
    // The setter hears it too, even when hidden (it asked).
    if (!peers.includes(by)) by.notify({ type: "session-data", key: req.key, ...value, ...(req.ref ? { ref: req.ref } : {}) });
  }

  /** The current value to `peer` (data null, version 0 while unset). */
  get(peer: SfuPeer, key: string, ref?: string): void {
    const value = this.values.get(key) ?? { data: null, version: 0 };
    peer.notify({ type: "session-data", key, ...value, ...(ref ? { ref } : {}) });
  }

  clear(): void {
    this.values.clear();
  }
}
