// The one ffmpeg run that measures a file (pure: argument building only; analyze.ts runs it).
//
// The file is decoded once. The picture is scaled down first (160 px wide), so a 720p or 1080p file
// costs little beyond its decoding, then goes through freezedetect and blackdetect (their events
// printed to one file) and signalstats (each frame's mean luma, printed to another: the frame times
// give the achieved frame rate, the luma the picture changes the A/V offset is measured from). The
// sound is cut into 10 ms windows for silencedetect and astats (each window's peak and RMS level:
// clipping, and the sound onsets). The same run copies the packets, undecoded, into a framecrc listing:
// their sizes and times give the bitrate per second and the nominal frame rate. Every graph starts
// with a microsecond time base, so printed frames carry exact times (see ffmpeg-output.ts).

/** freezedetect's noise tolerance: a picture changing less than this (-60 dB: a mean difference of 0.1%) is still. */
export const FREEZE_NOISE = "-60dB";
/** Spans shorter than this (s) are not reported: a second of stillness or silence is ordinary. */
export const MIN_SPAN_SECONDS = 1;
/**
 * The shortest still picture freezedetect reports (s); stretches that touch are then joined
 * (quality/picture.ts) and only those of MIN_SPAN_SECONDS or more reported. A still picture is cut by
 * the encoder (x264 sharpens a still picture over its first frames, a little more than the noise
 * tolerance), and by the pieces a per-peer file is made of: with freezedetect's own minimum at a second,
 * a 1.3 s freeze cut in two was not reported at all. Above the 67 ms a 15 fps source's frame lasts at
 * 30 fps, so a repeated frame is not a span.
 */
export const FREEZE_SECONDS = 0.1;
/** blackdetect's pixel threshold: a pixel at most this bright (share of the range) is black. */
export const BLACK_PIXEL = 0.1;
/** Quieter than this is silence (-50 dBFS: below a quiet room's noise). */
export const SILENCE_NOISE = "-50dB";
/** The sound's window (s): fine enough to place an onset within 10 ms. */
export const AUDIO_WINDOW_SECONDS = 0.01;
/** The width the picture is measured at: every measure here is of the whole picture, not its detail. */
export const ANALYSIS_WIDTH = 160;

export interface AnalysisOutputs {
  /** Frames with freezedetect or blackdetect metadata. */
  events: string;
  /** Every frame's mean luma. */
  luma: string;
  /** Every audio window's levels and silencedetect's metadata. */
  levels: string;
  /** The framecrc packet listing. */
  packets: string;
}

/** A path as a filter option value inside a filtergraph: escaped for the option, then for the graph. */
export function filterPath(p: string): string {
  const option = p.replace(/[\\':]/g, "\\$&");
  return option.replace(/[\\'[\],;]/g, "\\$&");
}

/**
 * ffmpeg arguments measuring `input`'s first video stream (`video`), first audio stream (`audio`, with
 * its sample rate, for the window size) and, with `packets`, listing every audio and video packet.
 */
export function buildAnalysisArgs(
  input: string,
  o: {
    video: boolean;
    audio: { sampleRate: number } | null;
    packets: boolean;
  },
  out: AnalysisOutputs,
): string[] {
  const chains: string[] = [];
  const maps: string[] = [];
  if (o.video) {
    chains.push(
      "[0:v:0]settb=AVTB," +
        `scale=${ANALYSIS_WIDTH}:-2:flags=area,format=yuv420p,` +
        `freezedetect=n=${FREEZE_NOISE}:d=${FREEZE_SECONDS},` +
        `blackdetect=d=${MIN_SPAN_SECONDS}:pix_th=${BLACK_PIXEL},` +
        `metadata=mode=print:file=${filterPath(out.events)},` +
        "signalstats," +
        `metadata=mode=print:key=lavfi.signalstats.YAVG:file=${filterPath(out.luma)}[v]`,
    );
    maps.push("-map", "[v]");
  }
  if (o.audio) {
    const samples = Math.max(1, Math.round(o.audio.sampleRate * AUDIO_WINDOW_SECONDS));
    chains.push(
      "[0:a:0]asettb=AVTB," +
        `asetnsamples=n=${samples}:p=0,` +
        `silencedetect=n=${SILENCE_NOISE}:d=${MIN_SPAN_SECONDS},` +
        "astats=metadata=1:reset=1:measure_perchannel=none:measure_overall=Peak_level+RMS_level," +
        `ametadata=mode=print:file=${filterPath(out.levels)}[a]`,
    );
    maps.push("-map", "[a]");
  }
  const args = ["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", input];
  if (chains.length) args.push("-filter_complex_threads", "1", "-filter_complex", chains.join(";"), ...maps, "-f", "null", "-");
  // Stream copy: demuxed only, every packet (-copyinkf: those before the first keyframe too). "V"
  // leaves out cover pictures, which are not the recording's video.
  if (o.packets) args.push("-map", "0:V?", "-map", "0:a?", "-c", "copy", "-copyinkf", "-f", "framecrc", out.packets);
  return args;
}
