import { z } from "zod";
import type { V2Routes } from "../api/server.ts";
import { objectIdParam, parseBody } from "../api/validation.ts";
import { normalizeUpload, templateUploadSchema, type UploadConfig } from "../domain/upload-config.ts";
import { AppError } from "../errors.ts";
import { getRoom, roomDestination } from "../rooms/room.service.ts";
import { getTemplate, templateUpload } from "../templates/template.service.ts";

// `POST /v2/storage/validate`: the dashboard's "Validate Config" button as an endpoint (100ms has none).
// The body is either a destination (a template's `settings.recording.upload`), or `{template_id}` /
// `{room_id}` to check the destination already saved there (with its stored secret). The answer is
// 200 with a report whose `valid` says whether recordings can be written there, and why not.

const savedSchema = z.union([
  z.strictObject({ template_id: objectIdParam("template_id") }),
  z.strictObject({ room_id: objectIdParam("room_id") }),
]);

export const storageRoutes: V2Routes = (v2, ctx) => {
  v2.post("/storage/validate", async (req) => {
    const body = req.body as Record<string, unknown> | null;
    let upload: UploadConfig | null;
    if (body && typeof body === "object" && ("template_id" in body || "room_id" in body)) {
      const saved = parseBody(savedSchema, body);
      upload =
        "template_id" in saved
          ? templateUpload(ctx, await getTemplate(ctx.db, saved.template_id))
          : await roomDestination(ctx, await getRoom(ctx.db, saved.room_id));
      if (!upload) {
        throw new AppError("invalid_body", "no storage destination is configured there: recordings go to the internal bucket", {
          details: ["set settings.recording.upload on the template, or recording_info.upload_info on the room"],
        });
      }
    } else {
      upload = normalizeUpload(parseBody(templateUploadSchema, body));
    }
    return ctx.storage.validate(upload);
  });
};
