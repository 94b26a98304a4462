#!/usr/bin/python3
# tapedeck's live compositor: one process per composition, run by tapedeck's process supervisor.
#
# It receives each shown track as RTP on its own local UDP port (tapedeck's room feed forwards what the
# SFU sends it), decodes each one once, places the video on one canvas (GStreamer's `compositor`, whose
# pads are moved and resized while it runs: a layout change is a property change, not a restart), mixes
# the audio (`audiomixer`), encodes once (x264 + Opus) and writes Matroska on stdout, the same stream a
# browser's MediaRecorder gives the capture ffmpeg.
#
# Commands come as JSON lines on stdin; events go out as JSON lines on fd 3 (tapedeck reads both):
#   {"op":"add","id":"v1","kind":"video","codec":"VP8","pt":96,"name":"Ana"} -> {"ev":"port","id":"v1","port":40001}
#   {"op":"add","id":"a1","kind":"audio","codec":"OPUS","pt":111}           -> {"ev":"port",...}; {"ev":"levels",...}
#   {"op":"add","id":"p1","kind":"placeholder","name":"Ana"}  a tile for a peer without a picture
#   {"op":"name","id":"v1","name":"Ana B."}
#   {"op":"layout","tiles":[{"id":"v1","x":0,"y":0,"w":640,"h":360,"z":1}]}  every other video pad is hidden
#   {"op":"remove","id":"v1"}
#   {"op":"pause"} / {"op":"resume"}  the paused span is left out of the output (timestamps close up)
#   {"op":"stop"}  (or the end of stdin): the output is finished and the process exits 0
# Events: {"ev":"ready"}, {"ev":"first-frame","id"} (a tile's first decoded frame: it can be shown),
# {"ev":"keyframe","id"} (a stream lost packets: ask its sender for a keyframe), {"ev":"levels","levels":{id:dB}},
# {"ev":"error","message"}. A fatal pipeline error exits with status 1 and the message on stderr.
import argparse
import json
import os
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

Gst.init(None)
SECOND = Gst.SECOND
# Both mixers skip the pads that have had no buffer yet (ignore-inactive-pads: a track just added does not
# hold the output back), and a mixer whose pads are all skipped ends its stream. With the default start
# time ("zero") they start timing out at once: a base source (the black canvas, the silence) whose caps
# came but whose first buffer was later than the mixer's latency (a loaded machine) left every pad
# inactive, and the mixer ended; the output then had no sound, or nothing at all. From its first buffer
# ("first"), a mixer waits for one before it times out, and the base source is never skipped again.
FIRST = 1

# What a composition needs (Debian: gstreamer1.0-plugins-base, -good, -ugly, gstreamer1.0-libav).
ELEMENTS = [
    "compositor", "audiomixer", "videotestsrc", "audiotestsrc", "textoverlay", "videoconvert", "audioconvert",
    "audioresample", "level", "opusenc", "opusdec", "rtpopusdepay", "udpsrc", "rtpjitterbuffer",
    "rtpvp8depay", "vp8dec", "rtph264depay", "avdec_h264", "matroskamux", "fdsink", "x264enc", "h264parse",
    "tee", "videoscale", "queue",
]


def check():
    """`--check`: prints the GStreamer version, or the elements missing, for tapedeck's boot check."""
    missing = [e for e in ELEMENTS if Gst.ElementFactory.find(e) is None]
    if missing:
        print(f"GStreamer {Gst.version_string()} lacks: {', '.join(missing)}")
        return 1
    print(Gst.version_string())
    return 0


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--video-kbps", type=int, default=2500)
    p.add_argument("--keyframe-seconds", type=int, default=2)
    p.add_argument("--preset", default="veryfast")
    p.add_argument("--audio-only", action="store_true")
    p.add_argument("--jitter-ms", type=int, default=150)
    p.add_argument("--mix-latency-ms", type=int, default=250)
    p.add_argument("--jb-mode", default="slave")
    # Measured (test/integration/compositor.test.ts, flash and beep): the audio came out ~30 ms after its picture
    # (Opus decoder delay without pre-skip over RTP, the encoder's lookahead, a frame picked by overlap).
    p.add_argument("--audio-advance-ms", type=int, default=25)
    p.add_argument("--name-size", type=int, default=20)
    p.add_argument("--held", action="store_true", help="start paused: the output begins at the first resume")
    p.add_argument("--check", action="store_true", help="check that every element is installed, and exit")
    p.add_argument("--layers", default="", help='JSON [{"width","height","kbps","maxrate"?,"bufsize"?,"profile"?,"preset"?}], highest first')
    return p.parse_args()


class Compositor:
    def __init__(self, o):
        self.o = o
        self.sources = {}  # id -> dict(kind, bin, pad, ...)
        self.events = os.fdopen(3, "w", buffering=1)
        # Paused spans, in running time: what was composed inside one is left out, and what comes after
        # it is moved earlier by its length. The spans are judged by each buffer's own time, not by when
        # it reaches the encoder (the mixers are `latency` behind the clock), so a resume starts exactly
        # at the first frame composed after it. Held: paused from the start until the first resume.
        self.spans = [[0, None]] if o.held else []
        self.stopping = False
        self.loop = GLib.MainLoop()
        self.pipeline = Gst.Pipeline.new("composition")
        self.levels = {}
        self.lock = threading.Lock()
        self.pending_layout = None
        self.last_out_pts = None
        self.last_seen = {}
        self.removals = []
        self.first_pts = {}
        self.frame_ns = Gst.SECOND // o.fps
        self._build()

    def layers(self):
        """The encoded outputs, highest first: --layers, else one at the canvas size."""
        if self.o.layers:
            return json.loads(self.o.layers)
        return [{"width": self.o.width, "height": self.o.height, "kbps": self.o.video_kbps}]

    def emit(self, **ev):
        try:
            self.events.write(json.dumps(ev) + "\n")
        except (BrokenPipeError, ValueError):
            pass

    def make(self, factory, name=None, **props):
        e = Gst.ElementFactory.make(factory, name)
        if e is None:
            raise RuntimeError(f"GStreamer element {factory} is missing (install gstreamer1.0-plugins-*)")
        for k, v in props.items():
            e.set_property(k.rstrip("_").replace("_", "-"), v)
        return e

    def _chain(self, *elements):
        for e in elements:
            self.pipeline.add(e)
        for a, b in zip(elements, elements[1:]):
            if not a.link(b):
                raise RuntimeError(f"cannot link {a.get_name()} to {b.get_name()}")
        return elements

    def _build(self):
        o = self.o
        self.latency_ms = o.jitter_ms + o.mix_latency_ms
        latency = self.latency_ms * Gst.MSECOND
        mux = self.make("matroskamux", "mux", streamable=True)
        # Not waiting for a first buffer to reach it (async=False): held, none does until the first picture,
        # and a pipeline still going to PLAYING would leave the sources added meanwhile paused.
        sink = self.make("fdsink", "out", fd=1, sync=False, async_=False)
        self._chain(mux, sink)
        self.encoder_pads = []
        if not o.audio_only:
            self.comp = self.make(
                "compositor",
                "comp",
                background=1,
                latency=latency,
                min_upstream_latency=latency,
                ignore_inactive_pads=True,
                start_time_selection=FIRST,
            )
            caps = Gst.Caps.from_string(f"video/x-raw,format=I420,width={o.width},height={o.height},framerate={o.fps}/1")
            capsf = self.make("capsfilter", caps=caps)
            vq = self.make("queue", "vq", max_size_time=2 * SECOND, max_size_buffers=0, max_size_bytes=0)
            tee = self.make("tee", "layers")
            self._chain(self.comp, capsf, vq, tee)
            self.comp.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, self._on_output)
            self.encoder_pads.append(vq.get_static_pad("sink"))
            # One encode per output layer, from the composed picture (no decode of a first encode): a
            # recording has one layer at the canvas size, a live stream its whole ladder, keyframes aligned.
            for i, layer in enumerate(self.layers()):
                chain = [self.make("queue", max_size_time=2 * SECOND, max_size_buffers=0, max_size_bytes=0)]
                if (layer["width"], layer["height"]) != (o.width, o.height):
                    chain.append(self.make("videoscale", method=0, add_borders=True))
                    chain.append(
                        self.make("capsfilter", caps=Gst.Caps.from_string(f"video/x-raw,width={layer['width']},height={layer['height']},pixel-aspect-ratio=1/1"))
                    )
                # No lookahead and no B-frames: a frame is out ~200 ms after it is composed (with the default
                # lookahead, ~600 ms: the start of a recording and a live stream's delay are that much later).
                # No scene-cut keyframes: every layer's keyframes at the same instants (HLS segments line up).
                options = "rc-lookahead=0:sync-lookahead=0:bframes=0:scenecut=0"
                if layer.get("maxrate"):
                    options += f":vbv-maxrate={layer['maxrate']}:vbv-bufsize={layer['bufsize']}"
                chain.append(
                    self.make(
                        "x264enc",
                        f"venc{i}",
                        speed_preset=layer.get("preset", o.preset),
                        bitrate=layer["kbps"],
                        key_int_max=o.fps * o.keyframe_seconds,
                        option_string=options,
                    )
                )
                if layer.get("profile"):
                    chain.append(self.make("capsfilter", caps=Gst.Caps.from_string(f"video/x-h264,profile={layer['profile']}")))
                chain.append(self.make("h264parse"))
                self._chain(*chain)
                tee.request_pad_simple("src_%u").link(chain[0].get_static_pad("sink"))
                chain[-1].link_pads("src", mux, "video_%u")
            # The canvas: a tiny live black source keeps the output going at the frame rate with no tile at all.
            base = self.make("videotestsrc", is_live=True, pattern="black")
            basecaps = self.make("capsfilter", caps=Gst.Caps.from_string(f"video/x-raw,format=I420,width=16,height=16,framerate={o.fps}/1"))
            self._chain(base, basecaps)
            pad = self.comp.request_pad_simple("sink_%u")
            pad.set_property("width", o.width)
            pad.set_property("height", o.height)
            pad.set_property("zorder", 0)
            basecaps.get_static_pad("src").link(pad)
        # Each input is placed by its own timestamps, not assumed continuous after its first buffer (the
        # default tolerates 40 ms, which put a whole stream's audio off by the first packet's jitter).
        self.amix = self.make(
            "audiomixer",
            "amix",
            latency=latency,
            min_upstream_latency=latency,
            ignore_inactive_pads=True,
            start_time_selection=FIRST,
            alignment_threshold=10 * Gst.MSECOND,
        )
        acaps = self.make("capsfilter", caps=Gst.Caps.from_string("audio/x-raw,rate=48000,channels=2"))
        aq = self.make("queue", "aq", max_size_time=2 * SECOND, max_size_buffers=0, max_size_bytes=0)
        aenc = self.make("opusenc", bitrate=128000)
        self._chain(self.amix, acaps, aq, self.make("audioconvert"), aenc)
        aenc.link_pads("src", mux, "audio_%u")
        self.encoder_pads.append(aq.get_static_pad("sink"))
        silence = self.make("audiotestsrc", is_live=True, wave="silence")
        scaps = self.make("capsfilter", caps=Gst.Caps.from_string("audio/x-raw,format=S16LE,rate=48000,channels=2"))
        self._chain(silence, scaps)
        scaps.get_static_pad("src").link(self.amix.request_pad_simple("sink_%u"))
        # Judged where a buffer leaves the mixer's chain (its own time, no offset yet); moved where it enters the encoder's.
        for pad in self.encoder_pads:
            pad.get_peer().add_probe(Gst.PadProbeType.BUFFER, self._while_paused, pad)
        self.stop_at = None
        self.mixers = [self.amix] + ([] if o.audio_only else [self.comp])
        self.mixed_past_stop = set()
        for mixer in self.mixers:
            mixer.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, self._mixed, mixer)
            mixer.get_static_pad("src").add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, self._mixer_event, mixer)
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message", self._on_message)

    # ---- sources ----

    def add(self, cmd):
        sid, kind = cmd["id"], cmd["kind"]
        if sid in self.sources:
            return
        if kind == "video" and not self.o.audio_only:
            self._add_video(sid, cmd)
        elif kind == "audio":
            self._add_audio(sid, cmd)
        elif kind == "placeholder" and not self.o.audio_only:
            self._add_placeholder(sid, cmd)

    def _rtp_source(self, sid, caps):
        src = self.make("udpsrc", f"udp-{sid}", port=0, address="127.0.0.1", caps=Gst.Caps.from_string(caps))
        jb = self.make("rtpjitterbuffer", latency=self.o.jitter_ms, do_lost=True, drop_on_latency=True, mode=self.o.jb_mode)
        return src, jb

    def _label(self, sid, name):
        return self.make(
            "textoverlay",
            f"name-{sid}",
            text=name or "",
            valignment="bottom",
            halignment="left",
            shaded_background=True,
            font_desc=f"Sans {self.o.name_size}",
            auto_resize=True,
        )

    def _add_video(self, sid, cmd):
        codec = cmd.get("codec", "VP8").upper()
        pt = int(cmd.get("pt", 96))
        src, jb = self._rtp_source(sid, f"application/x-rtp,media=video,encoding-name={codec},clock-rate=90000,payload={pt}")
        if codec == "H264":
            depay, dec = self.make("rtph264depay", request_keyframe=True, wait_for_keyframe=True), self.make("avdec_h264")
        else:
            depay, dec = self.make("rtpvp8depay", request_keyframe=True, wait_for_keyframe=True), self.make("vp8dec")
        conv = self.make("videoconvert")
        label = self._label(sid, cmd.get("name"))
        q = self.make("queue", max_size_buffers=3, max_size_bytes=0, max_size_time=0, leaky=2)
        elements = self._chain(src, jb, depay, dec, conv, label, q)
        pad = self._comp_pad(hidden=True)
        q.get_static_pad("src").link(pad)
        # A lost packet makes the depayloader ask upstream for a keyframe: tapedeck forwards the request to the sender.
        depay.get_static_pad("sink").add_probe(Gst.PadProbeType.EVENT_UPSTREAM, self._on_upstream, sid)
        pad.add_probe(Gst.PadProbeType.BUFFER, self._first_frame, sid)
        self.sources[sid] = {"kind": "video", "elements": elements, "pad": pad, "label": label}
        self._start(elements)
        self.emit(ev="port", id=sid, port=src.get_property("port"))

    def _add_placeholder(self, sid, cmd):
        src = self.make("videotestsrc", is_live=True, pattern="solid-color", foreground_color=0xFF2B2B2B)
        caps = self.make("capsfilter", caps=Gst.Caps.from_string("video/x-raw,format=I420,width=320,height=180,framerate=5/1"))
        label = self._label(sid, cmd.get("name"))
        label.set_property("valignment", "center")
        label.set_property("halignment", "center")
        elements = self._chain(src, caps, label)
        pad = self._comp_pad(hidden=True)
        label.get_static_pad("src").link(pad)
        pad.add_probe(Gst.PadProbeType.BUFFER, self._first_frame, sid)
        self.sources[sid] = {"kind": "placeholder", "elements": elements, "pad": pad, "label": label}
        self._start(elements)

    def _add_audio(self, sid, cmd):
        pt = int(cmd.get("pt", 111))
        src, jb = self._rtp_source(sid, f"application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload={pt}")
        elements = self._chain(
            src,
            jb,
            self.make("rtpopusdepay"),
            self.make("opusdec", plc=True),
            self.make("audioconvert"),
            self.make("audioresample"),
            self.make("capsfilter", caps=Gst.Caps.from_string("audio/x-raw,rate=48000,channels=2")),
            self.make("level", f"level-{sid}", interval=100 * Gst.MSECOND, post_messages=True),
        )
        pad = self.amix.request_pad_simple("sink_%u")
        out = elements[-1].get_static_pad("src")
        # Mixed earlier than its timestamps by the measured audio delay (--audio-advance-ms).
        out.set_offset(-self.o.audio_advance_ms * Gst.MSECOND)
        out.link(pad)
        self.sources[sid] = {"kind": "audio", "elements": elements, "pad": pad}
        self._start(elements)
        self.emit(ev="port", id=sid, port=src.get_property("port"))

    def _start(self, elements):
        # Downstream first, each set to PLAYING (not "whatever the parent is": added just after the
        # pipeline's own start, a source could be left behind and never produce).
        for e in reversed(elements):
            if e.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
                raise RuntimeError(f"{e.get_name()} did not start")

    def _comp_pad(self, hidden):
        pad = self.comp.request_pad_simple("sink_%u")
        pad.set_property("sizing-policy", "keep-aspect-ratio")
        if hidden:
            pad.set_property("alpha", 0.0)
            pad.set_property("width", 16)
            pad.set_property("height", 16)
        return pad

    def remove(self, sid):
        # A source leaving the canvas in a layout not applied yet goes once it is (no frame with its tile empty).
        with self.lock:
            if self.pending_layout is not None:
                self.removals.append(sid)
                return
        self._remove_now(sid)

    def _remove_now(self, sid):
        s = self.sources.pop(sid, None)
        if not s:
            return
        mixer = self.amix if s["kind"] == "audio" else self.comp
        pad = s["pad"]
        for e in s["elements"]:
            e.set_state(Gst.State.NULL)
        peer = pad.get_peer()
        if peer:
            peer.unlink(pad)
        mixer.release_request_pad(pad)
        for e in s["elements"]:
            self.pipeline.remove(e)
        self.levels.pop(sid, None)
        return False

    def rename(self, sid, name):
        s = self.sources.get(sid)
        if s and s.get("label"):
            s["label"].set_property("text", name or "")

    def layout(self, tiles):
        # Applied by the compositor's own thread between two frames (_on_output): never half a layout in a frame.
        with self.lock:
            self.pending_layout = tiles

    def _apply_layout(self, tiles):
        shown = {t["id"]: t for t in tiles}
        for sid, s in list(self.sources.items()):
            if s["kind"] == "audio":
                continue
            pad = s["pad"]
            t = shown.get(sid)
            if t is None:
                pad.set_property("alpha", 0.0)
                continue
            pad.set_property("xpos", int(t["x"]))
            pad.set_property("ypos", int(t["y"]))
            pad.set_property("width", int(t["w"]))
            pad.set_property("height", int(t["h"]))
            pad.set_property("zorder", int(t.get("z", 1)))
            pad.set_property("alpha", 1.0)

    # ---- probes and messages ----

    def _first_frame(self, pad, info, sid):
        # A source can be shown once the compositor has composed a frame at or after its first one's time
        # (it composes `latency` behind the clock: shown earlier, its tile would be empty for a moment).
        with self.lock:
            self.first_pts[sid] = info.get_buffer().pts
        return Gst.PadProbeReturn.REMOVE

    def _on_output(self, pad, info):
        pts = info.get_buffer().pts
        with self.lock:
            self.last_out_pts = pts
            tiles, self.pending_layout = self.pending_layout, None
            removals, self.removals = (self.removals, []) if tiles is not None else ([], self.removals)
            ready = [sid for sid, first in self.first_pts.items() if first == Gst.CLOCK_TIME_NONE or first <= pts + self.frame_ns]
            for sid in ready:
                del self.first_pts[sid]
        if tiles is not None:
            self._apply_layout(tiles)
        for sid in removals:
            GLib.idle_add(self._remove_now, sid)
        for sid in ready:
            self.emit(ev="first-frame", id=sid)
        return Gst.PadProbeReturn.OK

    def _on_upstream(self, pad, info, sid):
        ev = info.get_event()
        s = ev.get_structure() if ev else None
        if s and s.get_name() == "GstForceKeyUnit":
            self.emit(ev="keyframe", id=sid)
        return Gst.PadProbeReturn.OK

    def _while_paused(self, _pad, info, pad):
        buf = info.get_buffer()
        pts = buf.pts
        if pts == Gst.CLOCK_TIME_NONE:
            return Gst.PadProbeReturn.OK
        with self.lock:
            self.last_seen[pad] = pts
        shift = 0
        for start, end in self.spans:
            if pts >= start and (end is None or pts < end):
                return Gst.PadProbeReturn.DROP
            if end is not None and end <= pts:
                shift += end - start
        if shift:
            # The mixers' output is made here and goes nowhere else: its timestamps are moved in place.
            buf.pts = max(0, pts - shift)
            if buf.dts != Gst.CLOCK_TIME_NONE:
                buf.dts = max(0, buf.dts - shift)
        return Gst.PadProbeReturn.OK

    def pause(self):
        if not self.spans or self.spans[-1][1] is not None:
            self.spans.append([self._now(), None])

    def resume(self):
        if not self.spans or self.spans[-1][1] is not None:
            return
        if self.o.audio_only:
            self._resume_at(self._now())
            return
        # With a picture: from the first frame composed with every layout sent before this (a layout is
        # applied when the frame after the last one out is pushed, so it shows from the one after that).
        # The sound resumes at the same instant: after what the mixers have already let through or dropped
        # (the audio mixer runs ahead of the compositor), so both start together.
        with self.lock:
            at = self.last_out_pts + 2 * self.frame_ns if self.last_out_pts is not None else self._now()
            at = max([at] + [t + 20 * Gst.MSECOND for t in self.last_seen.values()])
        self._resume_at(at)

    def _resume_at(self, at):
        if self.spans and self.spans[-1][1] is None:
            self.spans[-1][1] = at

    def _now(self):
        clock = self.pipeline.get_clock()
        return clock.get_time() - self.pipeline.get_base_time() if clock else 0

    def _on_message(self, bus, msg):
        t = msg.type
        if t == Gst.MessageType.ELEMENT:
            s = msg.get_structure()
            if s and s.get_name() == "level":
                name = msg.src.get_name()
                if name.startswith("level-"):
                    rms = s.get_value("rms")
                    level = max(rms) if rms else -127.0
                    self.levels[name[6:]] = round(level, 1) if level == level and level > -127 else -127.0
        elif t == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            src = msg.src.get_name() if msg.src else "?"
            # A broken source stream is that tile's problem, not the composition's.
            for sid, s in list(self.sources.items()):
                if any(e is msg.src for e in s["elements"]):
                    self.emit(ev="error", id=sid, message=f"{src}: {err.message}")
                    self.remove(sid)
                    return
            self._fail(f"{src}: {err.message}")
        elif t == Gst.MessageType.EOS:
            self.exit_code = 0
            self.loop.quit()

    def _report_levels(self):
        if self.levels:
            self.emit(ev="levels", levels=dict(self.levels))
        return True

    # ---- commands ----

    def handle(self, line):
        try:
            cmd = json.loads(line)
            op = cmd.get("op")
            if op == "add":
                self.add(cmd)
            elif op == "remove":
                self.remove(cmd["id"])
            elif op == "name":
                self.rename(cmd["id"], cmd.get("name"))
            elif op == "layout":
                self.layout(cmd.get("tiles", []))
            elif op == "pause":
                self.pause()
            elif op == "resume":
                self.resume()
            elif op == "stop":
                self.stop()
        except Exception as e:  # a bad command is reported, never fatal
            self.emit(ev="error", message=f"command {line.strip()[:200]!r}: {e}")
        return False

    def stop(self):
        if self.stopping:
            return
        self.stopping = True
        # The output ends here: what is composed from now on (tiles going away as their inputs end) is left out.
        self.pause()
        # Then, once every mixer has made its output up to now (they run up to `latency` behind the clock,
        # more when their inputs have stopped), every source ends (an EOS that a live source sends from its
        # own thread: nothing here waits on a stream lock), the encoders flush and the muxer ends the stream;
        # the EOS on the bus ends the process.
        self.stop_at = self.spans[-1][0]
        # A pipeline that does not drain is not waited for: the output so far is complete up to its last frame.
        timer = threading.Timer(10, self._give_up)
        timer.daemon = True
        timer.start()
        return False

    def _mixed(self, pad, info, mixer):
        pts = info.get_buffer().pts
        if self.stop_at is not None and pts != Gst.CLOCK_TIME_NONE and pts >= self.stop_at and mixer not in self.mixed_past_stop:
            self.mixed_past_stop.add(mixer)
            if len(self.mixed_past_stop) == len(self.mixers):
                GLib.idle_add(self._end_sources)
        return Gst.PadProbeReturn.OK

    def _mixer_event(self, _pad, info, mixer):
        # A mixer ends its stream only after a stop: one that ends before has lost its output (the sound
        # or the picture would be missing from the rest of the file), which is a failure, said as one.
        if info.get_event().type == Gst.EventType.EOS and not self.stopping:
            GLib.idle_add(self._fail, f"{mixer.get_name()} ended its output before the stop")
        return Gst.PadProbeReturn.OK

    def _fail(self, message):
        sys.stderr.write(f"compositor failed: {message}\n")
        sys.stderr.flush()
        self.exit_code = 1
        self.loop.quit()
        return False

    def _end_sources(self):
        self.pipeline.send_event(Gst.Event.new_eos())
        return False

    def _give_up(self):
        sys.stderr.write("compositor: the output did not end within 10 s of the stop\n")
        sys.stderr.flush()
        os._exit(0)

    def read_commands(self):
        for line in sys.stdin:
            if line.strip():
                GLib.idle_add(self.handle, line)
        GLib.idle_add(lambda: (self.stop(), False)[1])

    def run(self):
        self.exit_code = 0
        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            sys.stderr.write("compositor: the pipeline did not start\n")
            return 1
        # Ready once it is playing: sources are added to a running pipeline only.
        ret, state, _ = self.pipeline.get_state(5 * SECOND)
        if ret == Gst.StateChangeReturn.FAILURE or state != Gst.State.PLAYING:
            sys.stderr.write(f"compositor: the pipeline did not reach PLAYING ({ret.value_nick}, {state.value_nick})\n")
            return 1
        self.emit(ev="ready")
        GLib.timeout_add(200, self._report_levels)
        threading.Thread(target=self.read_commands, daemon=True).start()
        self.loop.run()
        self.pipeline.set_state(Gst.State.NULL)
        return self.exit_code


def die_with_parent():
    """Killed when tapedeck dies (Linux PR_SET_PDEATHSIG): a composition nobody reads is never left running."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass


if __name__ == "__main__":
    die_with_parent()
    args = parse_args()
    sys.exit(check() if args.check else Compositor(args).run())
