import { z } from "zod";
import { templateUploadSchema } from "../domain/upload-config.ts";

// Request shapes of the 100ms policy (template) API. Known keys are type-checked; unknown keys inside
// roles and settings are kept as given (apps written for 100ms send fields tapedeck does not use).

export const NAME_RE = /^[a-zA-Z0-9.:_-]+$/;
export const nameSchema = z
  .string()
  .trim()
  .min(1, "must not be empty")
  .max(100, "must be at most 100 characters")
  .regex(NAME_RE, "may contain only a-z, A-Z, 0-9 and . - : _");

const TRACK_KINDS = ["audio", "video", "screen"] as const;

const videoParams = z.looseObject({
  bitRate: z.number().int().min(0).max(20_000).optional(),
  codec: z.enum(["vp8", "vp9", "h264", "av1"]).optional(),
  frameRate: z.number().int().min(1).max(60).optional(),
  width: z.number().int().min(0).max(3840).optional(),
  height: z.number().int().min(0).max(3840).optional(),
});

export const roleSchema = z.looseObject({
  name: nameSchema.optional(),
  publishParams: z
    .looseObject({
      allowed: z
        .array(z.enum(TRACK_KINDS, { error: "allowed entries must be audio, video or screen" }))
        .max(3)
        .optional(),
      audio: z.looseObject({ bitRate: z.number().int().min(0).max(1000).optional(), codec: z.enum(["opus"]).optional() }).optional(),
      video: videoParams.optional(),
      screen: videoParams.optional(),
    })
    .optional(),
  subscribeParams: z
    .looseObject({
      subscribeToRoles: z.array(nameSchema).max(100).optional(),
      maxSubsBitRate: z.number().int().min(0).optional(),
    })
    .optional(),
  permissions: z.record(z.string().max(64), z.boolean()).optional(),
  priority: z.number().int().min(0).max(1000).optional(),
  maxPeerCount: z.number().int().min(0).max(20000).optional(),
});
export type RoleInput = z.infer<typeof roleSchema>;

// Role names are keys everywhere (templates, the SFU, the room page): a name that is a property every
// JavaScript object inherits (`constructor`, `toString`, `__proto__`…) is refused rather than handled
// as a special case in every lookup, and names starting with `__` are tapedeck's own hidden roles (the
// recorder's `__internal_recorder`), which a template may not define.
const RESERVED_ROLE_NAMES = new Set([
  "constructor",
  "prototype",
  "hasOwnProperty",
  "isPrototypeOf",
  "propertyIsEnumerable",
  "toString",
  "toLocaleString",
  "valueOf",
]);

/** Why `name` cannot be a template's role, or null when it can. */
export function roleNameProblem(name: string): string | null {
  if (name.startsWith("__"))
    return `role ${name}: names starting with __ are reserved for tapedeck's own hidden roles; choose another name`;
  if (RESERVED_ROLE_NAMES.has(name)) return `role ${name}: ${name} is a reserved name (a JavaScript object property); choose another name`;
  return null;
}

/** A role name a template may define: `nameSchema` plus the reserved names above. */
export const roleNameSchema = nameSchema.superRefine((name, ctx) => {
  const problem = roleNameProblem(name);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

const roleMapSchema = z.record(nameSchema, roleSchema).refine((r) => Object.keys(r).length <= 100, "at most 100 roles");

/** The `roles` map. Its raw keys are checked first: zod would silently drop an own `__proto__` key. */
export const rolesSchema = z
  .unknown()
  .superRefine((raw, ctx) => {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return;
    for (const name of Object.keys(raw)) {
      const problem = roleNameProblem(name);
      if (problem) ctx.addIssue({ code: "custom", message: problem, path: [name] });
    }
  })
  .pipe(roleMapSchema);

export const settingsSchema = z.looseObject({
  region: z.enum(["in", "us", "eu", "auto"], { error: "region must be one of in, us, eu, auto" }).optional(),
  recording: z
    .looseObject({
      enabled: z.boolean().optional(),
      upload: templateUploadSchema.nullable().optional(),
    })
    .nullable()
    .optional(),
  roomState: z.record(z.string(), z.unknown()).optional(),
  retry: z.record(z.string(), z.unknown()).optional(),
});
export type SettingsInput = z.infer<typeof settingsSchema>;

const evenDim = (max: number) =>
  z
    .number()
    .int()
    .min(2)
    .max(max)
    .refine((n) => n % 2 === 0, "must be even");

export const layerSchema = z
  .object({
    width: evenDim(1920),
    height: evenDim(1920),
    videoBitrate: z.number().int().min(50).max(20_000).optional(),
    audioBitrate: z.number().int().min(16).max(512).optional(),
  })
  .refine((l) => Math.min(l.width, l.height) >= 144 && Math.min(l.width, l.height) <= 1080, "the shorter side must be between 144 and 1080")
  .refine((l) => Math.max(l.width, l.height) >= 192 && Math.max(l.width, l.height) <= 1920, "the longer side must be between 192 and 1920");

const descending = (layers: Array<{ width: number; height: number }>) =>
  layers.every((l, i) => i === 0 || l.width * l.height <= layers[i - 1].width * layers[i - 1].height);

const layersSchema = z.array(layerSchema).max(8).refine(descending, "list layers in descending resolution");

const thumbnails = z.looseObject({
  enabled: z.boolean().optional(),
  width: z.number().int().min(0).max(1920).optional(),
  height: z.number().int().min(0).max(1920).optional(),
  offsets: z.array(z.number().int().min(0)).max(10).optional(),
  fps: z.number().int().min(1).max(60).optional(),
});

const durationSeconds = z
  .number()
  .int()
  .min(0)
  .max(12 * 3600);
const presignDuration = z
  .number()
  .int()
  .min(60)
  .max(7 * 86400);

export const hlsDestinationSchema = z.looseObject({
  name: nameSchema.optional(),
  maxDuration: durationSeconds.optional(),
  layers: layersSchema.optional(),
  playlistType: z.enum(["event", "live"]).optional(),
  numPlaylistSegments: z.number().int().min(3).max(150).optional(),
  videoFrameRate: z.number().int().min(1).max(60).optional(),
  enableMetadataInsertion: z.boolean().optional(),
  enableStaticUrl: z.boolean().optional(),
  autoStopTimeout: z.number().int().min(0).max(86400).optional(),
  recording: z
    .looseObject({
      hlsVod: z.boolean().optional(),
      singleFilePerLayer: z.boolean().optional(),
      enableZipUpload: z.boolean().optional(),
      layers: layersSchema.optional(),
      thumbnails: thumbnails.optional(),
      presignDuration: presignDuration.optional(),
    })
    .optional(),
});

export const browserRecordingSchema = z.looseObject({
  name: nameSchema.optional(),
  role: nameSchema,
  width: z.number().int().min(2).max(1920).optional(),
  height: z.number().int().min(2).max(1920).optional(),
  maxDuration: durationSeconds.optional(),
  thumbnails: thumbnails.optional(),
  presignDuration: presignDuration.optional(),
  autoStart: z.boolean().optional(),
  autoStopTimeout: z.number().int().min(0).max(86400).optional(),
});

/**
 * An external stream's (RTMP out) settings, as 100ms documents them, plus `autoStart` (as
 * browserRecordings has it): the first visible peer's join starts the stream (recorders/rtmp).
 */
export const rtmpDestinationSchema = z.looseObject({
  name: nameSchema.optional(),
  width: z.number().int().min(2).max(1920).optional(),
  height: z.number().int().min(2).max(1920).optional(),
  maxDuration: durationSeconds.optional(),
  rtmpUrls: z
    .array(
      z
        .string()
        .max(2048)
        .regex(/^rtmps?:\/\/[^\s]+$/, "must be an rtmp:// or rtmps:// URL"),
    )
    .max(3, "at most 3 RTMP URLs")
    .optional(),
  recordingEnabled: z.boolean().optional(),
  autoStopTimeout: z.number().int().min(0).max(86400).optional(),
  autoStart: z.boolean().optional(),
});

export const destinationsSchema = z.looseObject({
  browserRecordings: z.record(nameSchema, browserRecordingSchema).optional(),
  rtmpDestinations: z.record(nameSchema, rtmpDestinationSchema).optional(),
  hlsDestinations: z.record(nameSchema, hlsDestinationSchema).optional(),
  transcriptions: z.record(nameSchema, z.looseObject({ name: nameSchema.optional(), role: nameSchema.optional() })).optional(),
});

export const recordingConfigSchema = z.looseObject({
  name: nameSchema,
  role: nameSchema,
  maxDuration: durationSeconds.optional(),
  presignDuration: presignDuration.optional(),
  thumbnails: thumbnails.optional(),
  compositeRecording: z
    .looseObject({
      browserComposite: z
        .looseObject({
          enabled: z.boolean().optional(),
          autoStart: z.boolean().optional(),
          autoStopTimeout: z.number().int().min(0).max(86400).optional(),
          width: z.number().int().min(2).max(1920).optional(),
          height: z.number().int().min(2).max(1920).optional(),
        })
        .optional(),
      customComposite: z.looseObject({ enabled: z.boolean().optional() }).optional(),
    })
    .optional(),
  trackRecording: z.looseObject({ enabled: z.boolean().optional() }).optional(),
  streamRecording: z
    .looseObject({
      enabled: z.boolean().optional(),
      width: z.number().int().min(2).max(1920).optional(),
      height: z.number().int().min(2).max(1920).optional(),
    })
    .optional(),
});

export const recordingsSchema = z.array(recordingConfigSchema).max(1, "only one recording config is allowed (as in 100ms)");

/**
 * The template object's own keys, which a client sends back unchanged (100ms's update: GET the template,
 * change it, POST the whole object): accepted and ignored, whatever their value.
 */
const READ_ONLY_KEYS = [
  "id",
  "_id",
  "customerId",
  "customer_id",
  "customer",
  "app_id",
  "createdAt",
  "updatedAt",
  "created_at",
  "updated_at",
] as const;
const readOnlyKeys = Object.fromEntries(READ_ONLY_KEYS.map((k) => [k, z.unknown().optional()])) as Record<
  (typeof READ_ONLY_KEYS)[number],
  z.ZodOptional<z.ZodUnknown>
>;

export const createTemplateSchema = z.strictObject({
  ...readOnlyKeys,
  name: nameSchema.optional(),
  roles: rolesSchema.optional(),
  settings: settingsSchema.optional(),
  destinations: destinationsSchema.optional(),
  recordings: recordingsSchema.optional(),
});
export type CreateTemplateInput = z.infer<typeof createTemplateSchema>;

export const updateTemplateSchema = createTemplateSchema;
