import type { AppContext } from "../../app-context.ts";
import { AppError } from "../../errors.ts";
import { outboundPolicy } from "../../net/outbound-policy.ts";
import { ACTIVE_STATUSES, roomRecordings } from "../../recorders/core/recording.repository.ts";
import { createExternalStream, startExternalStreamSchema } from "../../recorders/rtmp/external-stream.service.ts";
import { ACTIVE_BEAM_STATUSES, createBeam, requestStop, startBeamSchema } from "../../recorders/browser/beam.service.ts";
import { ACTIVE_HLS_STATUSES, createLiveStream, startLiveStreamSchema } from "../../recorders/hls/live-stream.service.ts";
import { getRoom } from "../../rooms/room.service.ts";
import { getTemplate, templateParts } from "../../templates/template.service.ts";
import { ownValue } from "../../util/own.ts";

// The 100ms SDK's recording and streaming calls (`startRTMPOrRecording`, `stopRTMPAndRecording`,
// `startHLSStreaming`, `stopHLSStreaming`), made by a peer in the room: the same recordings the REST API
// starts, allowed by the peer's role's template permissions (`browserRecording`, `rtmpStreaming`, `hlsStreaming`). Their
// state reaches every SDK peer through recording-state.ts, as for recordings started any other way.

export type RecordingMethod = "rtmp-start" | "rtmp-stop" | "hls-start" | "hls-stop";

/** Who asks: the room it is in, its role now, and its peer id (the recording's `started_by` / `stopped_by`). */
export interface Caller {
  roomId: string;
  role: string;
  peerId: string;
}

export type RecordingControl = (method: RecordingMethod, params: Record<string, unknown>, caller: Caller) => Promise<object>;

export function recordingControl(ctx: AppContext): RecordingControl {
  const log = ctx.log.child({ component: "hms" });
  return async (method, params, caller) => {
    const room = await getRoom(ctx.db, caller.roomId);
    const template = await getTemplate(ctx.db, room.template_id);
    const permissions = (ownValue(templateParts(template).roles as Record<string, { permissions?: Record<string, unknown> }>, caller.role)
      ?.permissions ?? {}) as Record<string, unknown>;
    const require = (permission: string, what: string) => {
      if (permissions[permission] !== true)
        throw new AppError("forbidden", `role ${caller.role} may not ${what} (the template's ${permission} permission)`);
    };
    const stopAll = async (kind: "beam" | "hls" | "rtmp", what: string) => {
      const statuses = kind === "hls" ? ACTIVE_HLS_STATUSES : ACTIVE_STATUSES;
      const active = await roomRecordings(ctx.db, { kind, roomId: room.id, statuses });
      if (!active.length) throw new AppError("not_found", `this room has no ${what} running`);
      for (const { id } of active) await requestStop(ctx.db, id, "client request", caller.peerId, kind);
      ctx.events.emit("recording.requested", { kind });
      log.info({ room_id: room.id, peer_id: caller.peerId, kind, stopped: active.length }, `${what} stopped by a peer`);
      return {};
    };
    const meetingUrl = (v: unknown) => (typeof v === "string" && v ? { meeting_url: v } : {});
    // The SDK's `resolution` when it is {width, height} numbers (else left to the defaults).
    const resolution = params.resolution as { width?: unknown; height?: unknown } | undefined;
    const sized =
      resolution && typeof resolution.width === "number" && typeof resolution.height === "number"
        ? { resolution: { width: resolution.width, height: resolution.height } }
        : {};
    const startExternal = async () => {
      require("rtmpStreaming", "start an RTMP stream");
      const input = startExternalStreamSchema.safeParse({
        ...meetingUrl(params.meeting_url),
        rtmp_urls: params.rtmp_urls,
        recording: params.record === true,
        ...sized,
      });
      if (!input.success) throw new AppError("invalid_body", input.error.issues[0].message);
      const row = await createExternalStream(ctx.db, room, template, input.data, caller.peerId, outboundPolicy(ctx.config.outbound));
      ctx.events.emit("recording.requested", { kind: "rtmp" });
      log.info({ stream_id: row.id, room_id: room.id, peer_id: caller.peerId }, "external stream requested by a peer");
      return {};
    };

    switch (method) {
      case "rtmp-start": {
        // With rtmp_urls: an external stream (recorded when record is true), as 100ms's startRTMPOrRecording.
        if (Array.isArray(params.rtmp_urls) && params.rtmp_urls.length) return startExternal();
        if (params.record !== true) throw new AppError("invalid_body", "rtmp-start needs rtmp_urls or record: true");
        require("browserRecording", "start a recording");
        const input = startBeamSchema.safeParse({ ...meetingUrl(params.meeting_url), ...sized });
        if (!input.success) throw new AppError("invalid_body", input.error.issues[0].message);
        const row = await createBeam(ctx.db, room, template, input.data, caller.peerId, outboundPolicy(ctx.config.outbound));
        ctx.events.emit("recording.requested", { kind: "beam" });
        log.info({ recording_id: row.id, room_id: room.id, peer_id: caller.peerId }, "browser recording requested by a peer");
        return {};
      }
      case "rtmp-stop": {
        // 100ms's stopRTMPAndRecording stops both: the external stream and the browser recording, whichever run.
        const streams = await roomRecordings(ctx.db, { kind: "rtmp", roomId: room.id, statuses: ACTIVE_STATUSES });
        const beams = await roomRecordings(ctx.db, { kind: "beam", roomId: room.id, statuses: ACTIVE_BEAM_STATUSES });
        if (streams.length) require("rtmpStreaming", "stop an RTMP stream");
        if (beams.length || !streams.length) require("browserRecording", "stop a recording");
        if (streams.length) await stopAll("rtmp", "RTMP stream");
        return beams.length || !streams.length ? stopAll("beam", "recording") : {};
      }
      case "hls-start": {
        require("hlsStreaming", "start a live stream");
        const variants = Array.isArray(params.variants) ? (params.variants as Array<{ meeting_url?: unknown }>) : [];
        const rec = params.hls_recording as { hls_vod?: unknown; single_file_per_layer?: unknown } | undefined;
        const input = startLiveStreamSchema.safeParse({
          ...meetingUrl(variants[0]?.meeting_url),
          ...(rec ? { recording: { hls_vod: rec.hls_vod === true, single_file_per_layer: rec.single_file_per_layer === true } } : {}),
        });
        if (!input.success) throw new AppError("invalid_body", input.error.issues[0].message);
        const row = await createLiveStream(ctx.db, room, template, input.data, caller.peerId, outboundPolicy(ctx.config.outbound));
        ctx.events.emit("recording.requested", { kind: "hls" });
        log.info({ stream_id: row.id, room_id: room.id, peer_id: caller.peerId }, "live stream requested by a peer");
        return {};
      }
      case "hls-stop":
        require("hlsStreaming", "stop a live stream");
        return stopAll("hls", "live stream");
    }
  };
}
