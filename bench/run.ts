import { machine } from "./proc.ts";
import { benchComposite } from "./composite.bench.ts";
import { benchPublishBitrate } from "./publish-bitrate.bench.ts";
import { benchRecord } from "./record.bench.ts";
import { benchSfu } from "./sfu.bench.ts";
import { benchHmsSdk } from "./hms-sdk.bench.ts";
import { benchSessionRecording } from "./session-recording.bench.ts";
import { benchBeam } from "./beam.bench.ts";
import { benchHls } from "./hls.bench.ts";
import { benchCluster } from "./cluster.bench.ts";
import { benchCompositor } from "./compositor.bench.ts";
import { benchQuality } from "./quality.bench.ts";

// `npm run bench`: prints each figure beside its baseline measured in the same run, on this machine.

const rows: Array<[string, string, string]> = [];
console.log(`tapedeck bench on ${machine()}, ${new Date().toISOString()}`);
rows.push(...(await benchSfu()));
rows.push(...(await benchHmsSdk()));
rows.push(...(await benchRecord()));
rows.push(...(await benchPublishBitrate()));
rows.push(...(await benchComposite()));
rows.push(...(await benchSessionRecording()));
rows.push(...(await benchBeam()));
rows.push(...(await benchCompositor()));
rows.push(...(await benchHls()));
rows.push(...(await benchCluster()));
rows.push(...(await benchQuality()));
const w0 = Math.max(...rows.map((r) => r[0].length));
const w1 = Math.max(...rows.map((r) => r[1].length));
for (const [a, b, c] of rows) console.log(`${a.padEnd(w0)}  ${b.padStart(w1)}  ${c}`);
process.exit(0);
