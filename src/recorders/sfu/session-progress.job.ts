import fs from "node:fs";
import path from "node:path";
import type { AppContext } from "../../app-context.ts";
import type { JobContext, JobHandler, JobPayloads } from "../../jobs/job-queue.ts";
import { closedSegments, COMPOSITE_CANVAS, planComposite } from "./composite-layout.ts";
import { renderSegment } from "./composite.ts";
import { readLiveComposite } from "./live-composite.state.ts";
import { type LoadedSession, loadSession } from "./session-recording.state.ts";
import { renderStreamPieces } from "./session-recording.streams.ts";
import { compositeInput, LIVE_SAFETY_MS, queueCompositeProgress, sessionWorkDir } from "./sfu-recording.ts";
import { takenOverFrom } from "./upload-track.job.ts";

// The SFU recording's work while its session runs: one `composite-progress` job per chunk
// (TAPEDECK_COMPOSITE_CHUNK_SECONDS), each queueing the next, renders the composite's closed segments
// from the track files (unless the live compositor draws it: then only once that has failed) and
// transcodes the per-peer videos' written pieces, so at the close (session-recording.job.ts) only the
// last piece of each is left.

export type CompositeProgressPayload = JobPayloads["composite-progress"];

/**
 * While the session runs, every chunk: the composite's closed segments (unless it is drawn live: then only
 * if that failed) and the per-peer videos' written pieces, so at the close little is left; then the next tick.
 */
export function compositeProgressHandler(ctx: AppContext): JobHandler<CompositeProgressPayload> {
  /** The composite's closed segments, from the track files on this node. */
  const renderSegments = async (s: LoadedSession, jc: JobContext, now: number) => {
    const origin = Date.parse(s.session.created_at);
    const plan = planComposite(
      // Only the tracks on this node (in a cluster, a session's peers may be on several): a segment
      // with a peer whose file is elsewhere shows it without media, as the close will if it is lost.
      compositeInput(
        { startedAt: s.session.created_at, endedAt: null },
        s.peers,
        s.tracks.filter((t) => fs.existsSync(t.file)),
        now,
      ),
      COMPOSITE_CANVAS,
      s.details.chunkMs,
    );
    let rendered = 0;
    for (const segment of closedSegments(plan, now - origin - LIVE_SAFETY_MS)) {
      if (jc.signal.aborted) break;
      try {
        const r = await renderSegment(plan, segment, {
          workDir: path.join(sessionWorkDir(ctx.config.dataDir, s.session.id), "segments"),
          signal: jc.signal,
          log: jc.log,
        });
        if (r.rendered) rendered++;
      } catch (err) {
        // Not fatal: the post-processing renders whatever is missing.
        jc.log.warn({ err, start_frame: segment.startFrame }, "composite segment could not be rendered during the session");
        break;
      }
    }
    if (rendered) jc.log.info({ rendered, recording_id: s.rec.id }, "composite segments rendered during the session");
  };

  return {
    async run(p, jc) {
      const s = await loadSession(ctx, p.recordingId);
      if (s?.rec.status !== "running" || !s.session.active) return;
      const from = takenOverFrom(jc);
      if (from) {
        // The tracks it would render are in the dead node's spool: the chain of ticks ends here, and the
        // post-processing at the close renders every segment and piece that is not on its node.
        jc.log.info({ recording_id: s.rec.id, node: from }, "composite progress of a dead node: left to the post-processing");
        return;
      }
      const now = Date.now();
      const { settings } = s.details;
      // Drawn live: nothing to render from the tracks unless the live one fails (the ticks go on for that).
      if (settings.composite && readLiveComposite(ctx.config.dataDir, s.session.id)?.state !== "recording")
        await renderSegments(s, jc, now);
      if (settings.stream && !jc.signal.aborted) {
        const made = await renderStreamPieces(ctx, s, jc, now);
        if (made) jc.log.info({ made, recording_id: s.rec.id }, "per-peer video pieces transcoded during the session");
      }
      const origin = Date.parse(s.session.created_at);
      const next = new Date(Math.max(origin + (p.tick + 1) * s.details.chunkMs + LIVE_SAFETY_MS, Date.now() + 1000));
      await queueCompositeProgress(ctx.db, s.rec.id, p.tick + 1, next);
    },
  };
}
