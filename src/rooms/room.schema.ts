import { z } from "zod";
import { roomUploadSchema } from "../domain/upload-config.ts";
import { NAME_RE } from "../templates/template.schema.ts";
import { webhookHeadersSchema } from "../webhooks/webhook-config.ts";

export const REGIONS = ["eu", "in", "us", "auto"] as const;

const roomName = z
  .string()
  .trim()
  .min(1, "name must not be empty")
  .max(100, "name must be at most 100 characters")
  .regex(NAME_RE, "name may contain only a-z, A-Z, 0-9 and . - : _");

export const webhookTargetSchema = z.strictObject({
  url: z
    .string()
    .max(2048)
    .url("webhook.url must be a URL")
    .refine((u) => /^https?:\/\//i.test(u), "webhook.url must be http or https"),
  // The same rules as the app webhook (POST /v2/webhooks/config): token names, none tapedeck sets itself.
  headers: webhookHeadersSchema.optional(),
});

export const recordingInfoSchema = z.strictObject({
  enabled: z.boolean().optional(),
  upload_info: roomUploadSchema.optional(),
});

const maxDuration = z
  .number({ error: "max_duration_seconds must be a number" })
  .int("max_duration_seconds must be a whole number")
  .min(120, "max_duration_seconds less than 120 seconds")
  .max(43200, "max_duration_seconds greater than 43200 seconds");

const common = {
  description: z.string().max(1000).optional(),
  recording_info: recordingInfoSchema.nullable().optional(),
  region: z.enum(REGIONS).optional(),
  max_duration_seconds: maxDuration.optional(),
  webhook: webhookTargetSchema.nullable().optional(),
  polls: z.array(z.string().max(64)).max(100).optional(),
};

export const createRoomSchema = z
  .strictObject({
    name: roomName.optional(),
    template_id: z
      .string()
      .regex(/^[0-9a-f]{24}$/, "template_id must be a 24-character hex id")
      .optional(),
    large_room: z.boolean().optional(),
    size: z
      .number({ error: "size must be a number" })
      .int("size must be a whole number")
      .min(0, "size must be at least 0")
      .max(20000, "room size greater than 20000")
      .optional(),
    ...common,
  })
  .refine((b) => b.size === undefined || b.large_room === true || b.size <= 2500, {
    // 100ms's text (its large-rooms guide); the schema's messages that are 100ms's texts are answered as
    // they are (api/validation.ts).
    message: "room size greater than 2500, set large_room flag as true",
    path: ["size"],
  });
export type CreateRoomInput = z.infer<typeof createRoomSchema>;

export const updateRoomSchema = z.strictObject({
  name: roomName.optional(),
  enabled: z.boolean().optional(),
  ...common,
});
export type UpdateRoomInput = z.infer<typeof updateRoomSchema>;
