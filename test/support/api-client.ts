import type {
  EventLogPage,
  KnownEventType,
  LiveStream,
  ListPage,
  PresignedUrl,
  Recording,
  RecordingAsset,
  Room,
  Session,
  Template,
  WebhookEnvelope,
  WebhookEventData,
} from "./api-types.ts";
import { until } from "./wait.ts";

// The /v2 API as a test (or any client) uses it. `request` is the escape hatch: the test names the body
// type it expects (`request<ApiError>(...)` for a refusal). The typed helpers are for resources tests use
// again and again; they insist on a 2xx and throw with the status and body otherwise, so a test reads as
// the user's story rather than as status checks.

export interface ApiResponse<T> {
  status: number;
  /** The parsed JSON body (the raw text when it is not JSON, null when empty). */
  body: T;
  headers: Headers;
}

/** fetch against the app with the management token (JSON in, parsed JSON out). */
export type ApiRequest = <T = unknown>(
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
) => Promise<ApiResponse<T>>;

export type Query = Record<string, string | number | boolean | undefined>;

/** `?a=1&b=2` from the defined entries, "" when none. */
export function queryString(query: Query = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

export interface V2Client {
  /** The body of a 2xx answer; anything else throws, naming the request, the status and the body. */
  ok<T>(method: string, path: string, body?: unknown): Promise<T>;
  createRoom(body?: Record<string, unknown>): Promise<Room>;
  getRoom(id: string): Promise<Room>;
  createTemplate(body: Record<string, unknown>): Promise<Template>;
  getTemplate(id: string): Promise<Template>;
  getSession(id: string): Promise<Session>;
  listSessions(query?: Query): Promise<ListPage<Session>>;
  startRecording(roomId: string, body?: Record<string, unknown>): Promise<Recording>;
  stopRecording(id: string): Promise<Recording>;
  getRecording(id: string): Promise<Recording>;
  /** Polls the recording until its status is one of `statuses` (then returns it), or throws after `timeoutMs`. */
  waitForRecording(id: string, statuses: readonly string[], timeoutMs?: number): Promise<Recording>;
  listRecordings(query?: Query): Promise<ListPage<Recording>>;
  startLiveStream(roomId: string, body?: Record<string, unknown>): Promise<LiveStream>;
  stopLiveStream(id: string): Promise<LiveStream>;
  getLiveStream(id: string): Promise<LiveStream>;
  /** Every asset matching the filters, all pages, newest first (the order of 100ms's lists). */
  listAssets(query?: Query): Promise<RecordingAsset[]>;
  presignedUrl(assetId: string, query?: Query): Promise<PresignedUrl>;
  /** Every past event (`GET /v2/analytics/events`) matching the filters, all pages, oldest first. */
  events<K extends KnownEventType>(query: { type: K; room_id?: string }): Promise<Array<WebhookEnvelope<K>>>;
  events(query?: { type?: string; room_id?: string }): Promise<WebhookEnvelope[]>;
}

export function v2Client(request: ApiRequest): V2Client {
  const ok = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await request<T>(method, path, body);
    if (res.status < 200 || res.status > 299) throw new Error(`${method} ${path}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const allPages = async <T>(path: string, query: Query): Promise<T[]> => {
    const out: T[] = [];
    let start: string | undefined;
    do {
      const page = await ok<ListPage<T>>("GET", `${path}${queryString({ ...query, limit: 100, start })}`);
      out.push(...page.data);
      start = page.last || undefined;
    } while (start);
    return out;
  };
  function events<K extends KnownEventType>(query: { type: K; room_id?: string }): Promise<Array<WebhookEnvelope<K>>>;
  function events(query?: { type?: string; room_id?: string }): Promise<WebhookEnvelope[]>;
  async function events(query: Query = {}): Promise<WebhookEnvelope[]> {
    // 100ms's page shape: {limit, total, next, events}; `next` goes back as `start`.
    const out: WebhookEnvelope[] = [];
    let start: string | undefined;
    do {
      const page = await ok<EventLogPage>("GET", `/v2/analytics/events${queryString({ ...query, limit: 100, start })}`);
      out.push(...page.events);
      start = page.next || undefined;
    } while (start);
    return out;
  }
  return {
    ok,
    createRoom: (body = {}) => ok<Room>("POST", "/v2/rooms", body),
    getRoom: (id) => ok<Room>("GET", `/v2/rooms/${id}`),
    createTemplate: (body) => ok<Template>("POST", "/v2/templates", body),
    getTemplate: (id) => ok<Template>("GET", `/v2/templates/${id}`),
    getSession: (id) => ok<Session>("GET", `/v2/sessions/${id}`),
    listSessions: (query = {}) => ok<ListPage<Session>>("GET", `/v2/sessions${queryString(query)}`),
    startRecording: (roomId, body = {}) => ok<Recording>("POST", `/v2/recordings/room/${roomId}/start`, body),
    stopRecording: (id) => ok<Recording>("POST", `/v2/recordings/${id}/stop`, {}),
    getRecording: (id) => ok<Recording>("GET", `/v2/recordings/${id}`),
    waitForRecording: (id, statuses, timeoutMs = 45_000) =>
      until(
        async () => {
          const r = await ok<Recording>("GET", `/v2/recordings/${id}`);
          return statuses.includes(r.status) && r;
        },
        `recording ${id} to be ${statuses.join(" or ")}`,
        timeoutMs,
        50,
      ),
    listRecordings: (query = {}) => ok<ListPage<Recording>>("GET", `/v2/recordings${queryString(query)}`),
    startLiveStream: (roomId, body = {}) => ok<LiveStream>("POST", `/v2/live-streams/room/${roomId}/start`, body),
    stopLiveStream: (id) => ok<LiveStream>("POST", `/v2/live-streams/${id}/stop`, {}),
    getLiveStream: (id) => ok<LiveStream>("GET", `/v2/live-streams/${id}`),
    listAssets: (query = {}) => allPages<RecordingAsset>("/v2/recording-assets", query),
    presignedUrl: (assetId, query = {}) => ok<PresignedUrl>("GET", `/v2/recording-assets/${assetId}/presigned-url${queryString(query)}`),
    events,
  };
}

/**
 * The data of each event type among `events` whose data matches `pick` (the last one of a type wins),
 * e.g. a recording's events: `eventsByType(await app.v2.events({ room_id }), (d) => d.beam_id === id)`.
 */
export function eventsByType(events: WebhookEnvelope[], pick: (data: WebhookEnvelope["data"]) => boolean = () => true): EventsByType {
  const out = new Map<string, WebhookEnvelope["data"]>();
  for (const e of events) if (pick(e.data)) out.set(e.type, e.data);
  return out as EventsByType;
}

/** A map from event type to that event's data, typed by the type asked for. */
export interface EventsByType {
  get<K extends KnownEventType>(type: K): WebhookEventData[K] | undefined;
  has(type: string): boolean;
  readonly size: number;
  keys(): IterableIterator<string>;
}
