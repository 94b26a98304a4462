import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import type { AppContext } from "../../app-context.ts";
import { insertAsset, type NewAsset } from "../../assets/asset.repository.ts";
import type { Db } from "../../db/database.ts";
import type { AssetRow } from "../../db/schema.ts";
import type { AssetType } from "../../domain/recording-types.ts";
import type { UploadConfig } from "../../domain/upload-config.ts";
import { nowIso } from "../../ids.ts";
import type { MediaLog } from "../../media/process.ts";
import {
  analyzeMedia,
  gradeReport,
  type GapSpan,
  type QualityGrade,
  type QualityReport,
  type TrackQuality,
} from "../../quality/analyze.ts";
import type { PictureMeasure } from "../../quality/picture.ts";
import { round3 } from "../../quality/spans.ts";
import { parseJson, type Json } from "../../util/json.ts";
import { uploadRecording, type Uploaded } from "./upload.ts";

// Every delivered media file gets a quality report (src/quality/ measures it): the report is uploaded
// beside the file as `<file>.quality.json`, listed as a `quality` asset of the recording (its metadata:
// the grade, the reasons and which file it is about), kept whole in `quality_reports` for the API and
// the dashboard, and its grade and link go into the success webhook. A report is never a reason not to
// deliver: when the analysis fails, the file goes out without one and the log says why.

export interface DeliveredQuality {
  report: QualityReport;
  uploaded: Uploaded;
  /** The analysed file's asset type and path (as users see it). */
  forType: AssetType;
  forPath: string;
}

/** Where a capture leaves the report it measured while recording `spool` (read by the finish job). */
export function measuredQualityFile(spool: string): string {
  return path.join(path.dirname(spool), "quality.json");
}

/** The report's object path: beside the file, `<name>.quality.json`. */
export function qualityReportPath(mediaRelativePath: string): string {
  return `${mediaRelativePath.replace(/\.[a-z0-9]+$/i, "")}.quality.json`;
}

/**
 * The report of `file`: the one measured while it was recorded (`measured`, a JSON file) when there is
 * one, else a pass over the file now; uploaded beside it. Null when the analysis failed (logged).
 */
export async function deliverQuality(
  ctx: Pick<AppContext, "storage" | "identity">,
  o: {
    file: string;
    dest: UploadConfig | null;
    /** The media file's relative path in the destination. */
    relativePath: string;
    forType: AssetType;
    forPath: string;
    measured?: string;
    /** The picture measured piece by piece while it was made (quality/picture.ts): only the sound is measured now. */
    picture?: PictureMeasure | null;
    gaps?: GapSpan[];
    tracks?: TrackQuality[];
    /** A live output's encoder lag behind real time. */
    live?: QualityReport["live"];
    expectVideo?: boolean;
    expectAudio?: boolean;
    signal?: AbortSignal;
    log: MediaLog & { warn(obj: object, msg?: string): void; info(obj: object, msg?: string): void };
  },
): Promise<DeliveredQuality | null> {
  let report: QualityReport;
  try {
    const earlier =
      o.measured && fs.existsSync(o.measured) ? parseJson<QualityReport | null>(await fsp.readFile(o.measured, "utf8"), null) : null;
    const expect = { expectVideo: o.expectVideo, expectAudio: o.expectAudio };
    report =
      earlier?.version === 1
        ? withCallerFacts(earlier, o)
        : await analyzeMedia(o.file, {
            signal: o.signal,
            log: o.log,
            gaps: o.gaps,
            tracks: o.tracks,
            live: o.live,
            picture: o.picture,
            ...expect,
          });
  } catch (err) {
    if (o.signal?.aborted) throw err;
    o.log.warn({ file: o.file, err: (err as Error).message }, "the quality analysis failed; the file is delivered without a report");
    return null;
  }
  const json = `${o.file}.quality.json`;
  await fsp.writeFile(json, JSON.stringify(report));
  const uploaded = await uploadRecording(ctx, o.dest, qualityReportPath(o.relativePath), json, "application/json");
  o.log.info(
    { file: o.forPath, grade: report.grade, reasons: report.reasons, analysis_seconds: report.analysis.seconds },
    `quality: ${report.grade}`,
  );
  return { report, uploaded, forType: o.forType, forPath: o.forPath };
}

/** A report measured while recording, with what only the caller knows (gaps, track counts, encoder lag) added and graded again. */
function withCallerFacts(
  earlier: QualityReport,
  o: { gaps?: GapSpan[]; tracks?: TrackQuality[]; live?: QualityReport["live"]; expectVideo?: boolean; expectAudio?: boolean },
): QualityReport {
  const r: QualityReport = {
    ...earlier,
    spans: {
      ...earlier.spans,
      gaps: o.gaps?.length ? o.gaps.map((g) => ({ ...g, start: round3(g.start), end: round3(g.end) })) : earlier.spans.gaps,
    },
    ...(o.tracks?.length ? { tracks: o.tracks } : {}),
    ...(o.live ? { live: o.live } : {}),
  };
  return { ...r, ...gradeReport(r, { video: o.expectVideo, audio: o.expectAudio }) };
}

/** Whose asset a report is: its recording, room and session. */
export type AssetOwner = Pick<NewAsset, "jobId" | "roomId" | "sessionId">;

/** The `quality` asset of a delivered report. */
function qualityAsset(owner: AssetOwner, q: DeliveredQuality): NewAsset {
  return {
    ...owner,
    type: "quality",
    path: q.uploaded.path,
    objectKey: q.uploaded.key,
    location: q.uploaded.location,
    size: q.uploaded.size,
    duration: 0,
    metadata: { grade: q.report.grade, reasons: q.report.reasons, for_type: q.forType, for_path: q.forPath },
  };
}

/**
 * Inserts each delivered report's `quality` asset and keeps the report whole beside it (in the commit's
 * transaction: core/finish.ts commitOutputs); returns the asset rows, in order.
 */
export async function insertQualityReports(
  trx: Db,
  owner: AssetOwner,
  delivered: ReadonlyArray<DeliveredQuality | null>,
): Promise<AssetRow[]> {
  // Reports of assets a retry replaced go with them.
  await trx
    .deleteFrom("quality_reports")
    .where("recording_id", "=", owner.jobId)
    .where("asset_id", "not in", trx.selectFrom("recording_assets").select("id").where("job_id", "=", owner.jobId))
    .execute();
  const rows: AssetRow[] = [];
  for (const q of delivered) {
    if (!q) continue;
    const row = await insertAsset(trx, qualityAsset(owner, q));
    await trx
      .insertInto("quality_reports")
      .values({
        asset_id: row.id,
        recording_id: owner.jobId,
        grade: q.report.grade,
        report: JSON.stringify(q.report),
        created_at: nowIso(),
      })
      .execute();
    rows.push(row);
  }
  return rows;
}

/** The success webhook's quality keys (tapedeck's addition): empty strings when there is no report. */
export function qualityWebhookKeys(q: DeliveredQuality | null): Record<string, string> {
  return {
    quality_grade: q?.report.grade ?? "",
    quality_report_path: q?.uploaded.path ?? "",
    quality_report_presigned_url: q?.uploaded.url ?? "",
  };
}

/** The SFU's view of recorded tracks (recorded_tracks.stats), as reports list them; tracks without stats are left out. */
export function trackQuality(
  tracks: ReadonlyArray<{ track_id: string; peer_id: string; kind: string; stats: string | null }>,
): TrackQuality[] {
  const out: TrackQuality[] = [];
  for (const t of tracks) {
    const st = parseJson<{
      packets?: number;
      lost?: number;
      keyframe_requests?: number;
      resolutions?: TrackQuality["resolution_changes"];
    } | null>(t.stats, null);
    if (!st) continue;
    const packets = st.packets ?? 0;
    const lost = st.lost ?? 0;
    out.push({
      track_id: t.track_id,
      peer_id: t.peer_id,
      kind: t.kind === "video" ? "video" : "audio",
      packets,
      lost,
      loss_pct: packets + lost > 0 ? Math.round((10000 * lost) / (packets + lost)) / 100 : 0,
      keyframe_requests: st.keyframe_requests ?? 0,
      // The first size is where it starts, not a change.
      resolution_changes: (st.resolutions ?? []).slice(1),
    });
  }
  return out;
}

const ORDER: QualityGrade[] = ["good", "degraded", "bad"];

/** The worst of these grades (null for none). */
export function worstGrade(grades: readonly QualityGrade[]): QualityGrade | null {
  return grades.reduce<QualityGrade | null>((w, g) => (w === null || ORDER.indexOf(g) > ORDER.indexOf(w) ? g : w), null);
}

/**
 * A recording's `quality` (tapedeck's addition): the worst grade of its files' reports, and each report's
 * grade, reasons and file; null while it has none.
 */
export function recordingQuality(assets: readonly AssetRow[] | null): Json | null {
  const reports = (assets ?? [])
    .filter((a) => a.type === "quality")
    .map((a) => {
      const m = parseJson<{ grade?: QualityGrade; reasons?: string[]; for_type?: string; for_path?: string }>(a.metadata, {});
      return { asset_id: a.id, for_type: m.for_type ?? "", for_path: m.for_path ?? "", grade: m.grade ?? "good", reasons: m.reasons ?? [] };
    });
  if (!reports.length) return null;
  return { grade: worstGrade(reports.map((r) => r.grade)), reports };
}
