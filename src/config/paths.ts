import path from "node:path";
import { fileURLToPath } from "node:url";

// Where the files shipped beside the code are, resolved once from this module's own place in the
// repository; low in the tree so any feature may serve them without importing another feature.

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** The browser side: room page, live viewer, dashboard (`web/` at the repo root). */
export const WEB_DIR = path.join(REPO_ROOT, "web");
/** hls.js as npm installed it (the live viewer page loads it). */
export const HLS_JS = path.join(REPO_ROOT, "node_modules/hls.js/dist/hls.min.js");
