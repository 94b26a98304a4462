import { randomBytes, randomUUID } from "node:crypto";

// 24-hex ObjectId-style ids (4 bytes of seconds, 5 random bytes, 3-byte counter): time-ordered, so
// sorting by id sorts by creation, which is what keyset pagination (`start` = previous `last`) needs.
const processRandom = randomBytes(5);
// Starts in the lower half so it cannot wrap (and break ordering) within one second.
let counter = randomBytes(3).readUIntBE(0, 3) & 0x7fffff;

export function newObjectId(now: number = Date.now()): string {
  const buf = Buffer.alloc(12);
  buf.writeUInt32BE(Math.floor(now / 1000) >>> 0, 0);
  processRandom.copy(buf, 4);
  counter = (counter + 1) % 0xffffff;
  buf.writeUIntBE(counter, 9, 3);
  return buf.toString("hex");
}

export const OBJECT_ID = /^[0-9a-f]{24}$/;
export const isObjectId = (s: string): boolean => OBJECT_ID.test(s);

export const newUuid = (): string => randomUUID();

export const nowIso = (): string => new Date().toISOString();
