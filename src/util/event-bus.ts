// A small typed event bus, so a part that has news (the SFU queued a job, a route asked for a
// recording) says so without knowing who listens, and the composition root does not thread callbacks
// by hand. Synchronous and in-process: `emit` calls every listener before it returns. A listener that
// throws is reported through `onError` (logged by the app) and never reaches the emitter or the other
// listeners. Events that cross processes (SFU shards) are relayed by whoever owns the IPC channel.

/** Event name → payload; `void` for an event that carries nothing. */
export type EventMap = Record<string, unknown>;

export type Listener<P> = (payload: P) => void;

/** `emit("a")` for a `void` event, `emit("b", payload)` otherwise. */
type EmitArgs<P> = [P] extends [void] ? [] : [payload: P];

export class EventBus<E extends EventMap> {
  private readonly listeners = new Map<keyof E, Set<Listener<never>>>();

  constructor(private readonly onError: (err: unknown, event: string) => void = () => {}) {}

  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  off<K extends keyof E>(event: K, listener: Listener<E[K]>): void {
    this.listeners.get(event)?.delete(listener as Listener<never>);
  }

  emit<K extends keyof E>(event: K, ...args: EmitArgs<E[K]>): void {
    const set = this.listeners.get(event);
    if (!set) return;
    // A copy: a listener may remove itself (or add another) while the event is delivered.
    for (const listener of [...set]) {
      try {
        (listener as Listener<unknown>)(args[0]);
      } catch (err) {
        this.onError(err, String(event));
      }
    }
  }

  /** How many listeners an event has (for tests and shutdown checks). */
  listenerCount(event: keyof E): number {
    return this.listeners.get(event)?.size ?? 0;
  }
}
