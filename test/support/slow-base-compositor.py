#!/usr/bin/python3
# The live compositor (gst-compositor.py, its path in COMPOSITOR_SCRIPT) on a loaded machine, made
# repeatable: its base sources' first buffer (the black canvas: SLOW_BASE=video, the silence:
# SLOW_BASE=audio) is held SLOW_BASE_MS after their caps went out, longer than the mixers' latency.
# Arguments are the compositor's own.
import importlib.util
import os
import sys
import time

spec = importlib.util.spec_from_file_location("gst_compositor", os.environ["COMPOSITOR_SCRIPT"])
gc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gc)
Gst = gc.Gst
FACTORY = {"audio": "audiotestsrc", "video": "videotestsrc"}[os.environ.get("SLOW_BASE", "audio")]
HOLD_S = int(os.environ.get("SLOW_BASE_MS", "1000")) / 1000
build = gc.Compositor._build


def slow_build(self):
    build(self)
    for e in self.pipeline.iterate_elements():
        if e.get_factory().get_name() != FACTORY:
            continue
        held = []

        def first_buffer_late(_pad, _info, held=held):
            if not held:
                held.append(True)
                time.sleep(HOLD_S)
            return Gst.PadProbeReturn.OK

        e.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, first_buffer_late)


gc.Compositor._build = slow_build
gc.die_with_parent()
sys.exit(gc.Compositor(gc.parse_args()).run())
