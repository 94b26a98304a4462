// User-chosen keys (role names, header names, destination and layer names, metadata keys) must never
// reach JavaScript's inherited properties: `roles["constructor"]` is a function on every plain object,
// `roles["__proto__"]` its prototype. Every lookup by such a key goes through these.

/** The object's own property `key`, or undefined (never an inherited one such as `constructor`). */
export function ownValue<T>(obj: Readonly<Record<string, T>> | null | undefined, key: string): T | undefined {
  return obj != null && Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** Whether `key` is the object's own property. */
export const hasOwnKey = (obj: object | null | undefined, key: string): boolean => obj != null && Object.hasOwn(obj, key);

/** A null-prototype copy: safe to index by any key, and JSON.stringify writes it like a plain object. */
export function nullProtoCopy<T>(obj: Readonly<Record<string, T>>): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  for (const [k, v] of Object.entries(obj)) out[k] = v;
  return out;
}
