import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { MediaStreamTrack, RTCPeerConnection } from "werift";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { OPUS, VP8 } from "../../src/sfu/media-config.ts";
import type { Sfu } from "../../src/sfu/sfu.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { SignalClient } from "../support/signal-client.ts";
import type { Room, Template } from "../support/api-types.ts";

// A publish is checked against the offer's real m-lines, not only the announcement: a video m-line
// announced as audio (to slip past a role allowed only audio), a sending m-line left unannounced, an
// announced mid the offer lacks, or one mid announced twice is refused before anything is negotiated.

type Kind = "audio" | "video";

/** A real werift publish offer with one send-only m-line per kind; returns its sdp and the mids. */
async function makeOffer(kinds: Kind[]): Promise<{ sdp: string; mids: string[] }> {
  const pc = new RTCPeerConnection({ codecs: { video: [VP8()], audio: [OPUS()] }, iceUseIpv6: false, bundlePolicy: "max-bundle" });
  const ts = kinds.map((kind) => pc.addTransceiver(new MediaStreamTrack({ kind }), { direction: "sendonly" }));
  await pc.setLocalDescription(await pc.createOffer());
  const out = { sdp: pc.localDescription!.sdp, mids: ts.map((t) => t.mid!) };
  await pc.close();
  return out;
}

const track = (mid: string, kind: Kind, source: "camera" | "microphone" | "screen", id = `${source}-${mid}`) => ({
  mid,
  track_id: id,
  stream_id: "s",
  kind,
  source,
});

describe("SFU hardening: publish offers checked against their m-lines", () => {
  let app: TestApp;
  let roomId: string;
  const join = async (role: string, name: string) => {
    const c = await SignalClient.connect(app.url);
    const j = await c.join(await mintAppToken(app.ctx.identity, { roomId, role }), name);
    return { c, peerId: j.peer.id as string };
  };
  const publishPc = (peerId: string) =>
    (app.sfu as Sfu).rooms.get(roomId)!.peers.get(peerId) as unknown as { publishPc: unknown; published: Map<string, unknown> };

  before(async () => {
    app = await startTestApp();
    const t = await app.api<Template>("POST", "/v2/templates", {
      name: "publish-checks",
      roles: { host: {}, guest: { publishParams: { allowed: ["audio"] } }, presenter: { publishParams: { allowed: ["audio", "screen"] } } },
    });
    roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "publish-checks", template_id: t.body.id })).body.id;
  });
  after(() => app.close());

  test("a video m-line announced as audio by a role allowed only audio is refused and never negotiated", async () => {
    const { c, peerId } = await join("guest", "Sly");
    const { sdp, mids } = await makeOffer(["video"]);
    c.send({ type: "publish", sdp, tracks: [track(mids[0], "audio", "microphone")] });
    const err = await c.next("error");
    assert.deepEqual([err.code, err.reason, err.fatal], [400, "invalid_body", false]);
    assert.match(err.message, new RegExp(`announced as audio but m-line ${mids[0]} is video`));
    assert.equal(publishPc(peerId).publishPc, null, "nothing negotiated");
    assert.ok(!c.received.some((m) => m.type === "publish-answer"));
    c.close();
  });

  test("every kind and source mismatch, unannounced sending m-lines, unknown and repeated mids are refused", async () => {
    const { c, peerId } = await join("host", "Host");
    const av = await makeOffer(["video", "audio"]);
    const [v, a] = av.mids;
    const cases: Array<[unknown[], RegExp]> = [
      [[track(v, "video", "camera")], new RegExp(`m-line ${a} \\(audio\\) sends media but no track announces it`)],
      [[track(v, "audio", "microphone"), track(a, "video", "camera")], /announced as audio but m-line .* is video/],
      [
        [track(v, "video", "camera"), track(a, "audio", "microphone"), track("9", "audio", "microphone", "x")],
        /mids the offer does not have: 9/,
      ],
      [
        [track(v, "video", "camera"), track(v, "video", "screen", "dup"), track(a, "audio", "microphone")],
        new RegExp(`mid ${v} is announced twice`),
      ],
      [[track(v, "video", "camera", "same"), track(a, "audio", "microphone", "same")], /track id same is announced twice/],
    ];
    for (const [tracks, re] of cases) {
      c.send({ type: "publish", sdp: av.sdp, tracks });
      const err = await c.next("error");
      assert.equal(err.code, 400, err.message);
      assert.match(err.message, re);
    }
    assert.equal(publishPc(peerId).publishPc, null, "nothing negotiated");
    // The honest announcement of the same offer is answered.
    c.send({ type: "publish", sdp: av.sdp, tracks: [track(v, "video", "camera"), track(a, "audio", "microphone")] });
    await c.next("publish-answer");
    c.close();
  });

  test("a role's allowed list is checked per source: screen without camera, camera without screen", async () => {
    const { c } = await join("presenter", "Presenter");
    const o = await makeOffer(["video", "audio"]);
    c.send({ type: "publish", sdp: o.sdp, tracks: [track(o.mids[0], "video", "camera"), track(o.mids[1], "audio", "microphone")] });
    const err = await c.next("error");
    assert.deepEqual([err.code, err.reason], [403, "forbidden"]);
    assert.match(err.message, /may not publish video/);
    c.send({ type: "publish", sdp: o.sdp, tracks: [track(o.mids[0], "video", "screen"), track(o.mids[1], "audio", "microphone")] });
    await c.next("publish-answer");
    c.close();
  });

  test("a closed m-line (port 0, as a browser offers a stopped screen share) or a receive-only one needs no announcement", async () => {
    const { c } = await join("host", "Stopper");
    const o = await makeOffer(["video", "video", "audio"]);
    // The second video m-line closed: port 0 and inactive, as Chromium offers a stopped transceiver.
    const sections = o.sdp.split(/(?=^m=)/m);
    const closedIndex = sections.findIndex((s) => s.includes(`a=mid:${o.mids[1]}\r\n`));
    sections[closedIndex] = sections[closedIndex].replace(/^m=video \d+/, "m=video 0").replace("a=sendonly", "a=inactive");
    c.send({
      type: "publish",
      sdp: sections.join(""),
      tracks: [track(o.mids[0], "video", "camera"), track(o.mids[2], "audio", "microphone")],
    });
    const answer = await c.next("publish-answer");
    assert.match(answer.sdp, /^m=video/m);
    c.close();
  });
});
