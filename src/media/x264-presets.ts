// The x264 presets tapedeck lets an operator choose (TAPEDECK_HLS_PRESET). Here, below both the config
// schema that validates the setting and the HLS ladder that costs and uses it, so config/ needs no feature.

export const PRESETS = ["ultrafast", "superfast", "veryfast"] as const;
export type Preset = (typeof PRESETS)[number];
