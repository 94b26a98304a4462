import http from "node:http";
import type { AddressInfo } from "node:net";

// A custom recorder page (the `meeting_url` contract) that flashes the whole viewport white and beeps
// (1 kHz, 100 ms) at the same moments, once a second: the source for the browser recording's A/V sync
// test. Both come from the audio clock: each beep is scheduled on the AudioContext, and the flash is
// drawn in the animation frame in which that beep reaches the speakers (getOutputTimestamp maps the
// audio clock onto performance.now()).

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>A/V sync source</title>
<style>html,body{margin:0;height:100%;background:#000}</style></head><body><script>
const ac = new AudioContext();
const beeps = [];
function schedule() {
  const start = Math.ceil(ac.currentTime) + 1;
  for (let k = 0; k < 3; k++) {
    const t = start + k;
    if (beeps.includes(t)) continue;
    beeps.push(t);
    const o = ac.createOscillator(); o.frequency.value = 1000;
    const g = ac.createGain(); g.gain.value = 0.8;
    o.connect(g).connect(ac.destination); o.start(t); o.stop(t + 0.1);
  }
  while (beeps.length > 10) beeps.shift();
}
setInterval(schedule, 250); schedule();
function frame(now) {
  const ts = ac.getOutputTimestamp();
  const toPerf = (t) => ts.performanceTime + (t - ts.contextTime) * 1000;
  const on = beeps.some((t) => now >= toPerf(t) - 8 && now < toPerf(t) + 100);
  document.body.style.background = on ? "#fff" : "#000";
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);
window.tapedeck = { recorder: { ready: true } };
</script></body></html>`;

export async function startAvPage(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith("/missing")) return void res.writeHead(404).end("no such page");
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(PAGE);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
