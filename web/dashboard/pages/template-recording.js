// The template page's Recording & HLS tab: the one recording config and the HLS destinations with their layers.

import { busy, el, problem } from "../ui.js";
import { checkbox, clone, confirmButton, field, num, numberInput, setOrDelete } from "./template-form.js";

const MAX_LAYERS = 8; // layersSchema in src/templates/template.schema.ts

export function recordingSection(section, state, { api, showOk }, id) {
  const roleSelects = new Set();
  const roleSelect = (testid, value) => {
    const s = el("select", { "data-testid": testid });
    s.dataset.want = value ?? "";
    roleSelects.add(s);
    fillRoles(s);
    return s;
  };
  function fillRoles(s) {
    const names = Object.keys(state.t.roles ?? {});
    const want = s.value || s.dataset.want;
    const opts = names.map((r) => el("option", { value: r, selected: r === want }, r));
    if (want && !names.includes(want)) opts.unshift(el("option", { value: want, selected: true }, `${want} (not in this template)`));
    s.replaceChildren(...opts);
  }

  function configPanel() {
    const saved = state.t.recordings?.[0];
    const base = clone(saved);
    const bc = base.compositeRecording?.browserComposite ?? {};
    const name = el("input", { "data-testid": "rec-name", value: base.name ?? "default", maxlength: 100, autocomplete: "off" });
    const role = roleSelect("rec-role", base.role ?? (state.t.roles?.host ? "host" : Object.keys(state.t.roles ?? {})[0]));
    const maxDuration = numberInput("rec-max-duration", base.maxDuration, { min: 0, max: 43200 });
    const autoStart = checkbox("Start browser recording when the first peer joins", bc.autoStart, { "data-testid": "rec-auto-start" });
    const autoStop = numberInput("rec-auto-stop", bc.autoStopTimeout, { min: 0, max: 86400 });
    const width = numberInput("rec-width", bc.width, { min: 2, max: 1920 });
    const height = numberInput("rec-height", bc.height, { min: 2, max: 1920 });
    const track = checkbox("Track recording (each track on its own, by the SFU)", base.trackRecording?.enabled, {
      "data-testid": "rec-track",
    });
    const stream = checkbox("Stream recording (room composite, by the SFU)", base.streamRecording?.enabled, {
      "data-testid": "rec-stream",
    });
    const custom = checkbox("Custom composite", base.compositeRecording?.customComposite?.enabled, { "data-testid": "rec-custom" });
    const save = el("button", { type: "submit", class: "primary", "data-testid": "rec-save" }, "Save recording config");
    const remove = saved
      ? confirmButton({
          label: "Remove config",
          question: "Remove the recording config?",
          testid: "rec-remove",
          busyText: "Removing…",
          action: async () => {
            state.t.recordings = await api("POST", `/v2/templates/${id}/recordings`, []);
            showOk("Recording config removed");
            render();
          },
        })
      : null;

    const form = el(
      "form",
      { novalidate: true, class: "panel", "data-testid": "recording-config" },
      el("h2", {}, "Recording config"),
      el(
        "p",
        { class: "muted", "data-testid": "rec-state" },
        saved ? `Saved as ${saved.name}.` : "None saved yet: these are the defaults.",
      ),
      el("div", { class: "row" }, field("Name", name), field("Recorder's role", role), field("Max duration (s)", maxDuration, "0–43200")),
      el(
        "fieldset",
        {},
        el("legend", {}, "Browser composite"),
        autoStart.node,
        el(
          "div",
          { class: "row" },
          field("Auto-stop after (s)", autoStop, "once everyone left"),
          field("Width", width, "px"),
          field("Height", height, "px"),
        ),
      ),
      el("fieldset", {}, el("legend", {}, "Other recordings"), el("div", { class: "tpl-checks" }, track.node, stream.node, custom.node)),
      el("div", { class: "row tpl-actions" }, save, remove),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void busy(save, "Saving…", async () => {
        const out = clone(state.t.recordings?.[0]);
        out.name = name.value.trim();
        out.role = role.value;
        setOrDelete(out, "maxDuration", num(maxDuration));
        const composite = clone(out.compositeRecording);
        composite.browserComposite = { ...clone(composite.browserComposite), autoStart: autoStart.box.checked };
        setOrDelete(composite.browserComposite, "autoStopTimeout", num(autoStop));
        setOrDelete(composite.browserComposite, "width", num(width));
        setOrDelete(composite.browserComposite, "height", num(height));
        composite.customComposite = { ...clone(composite.customComposite), enabled: custom.box.checked };
        out.compositeRecording = composite;
        out.trackRecording = { ...clone(out.trackRecording), enabled: track.box.checked };
        out.streamRecording = { ...clone(out.streamRecording), enabled: stream.box.checked };
        state.t.recordings = await api("POST", `/v2/templates/${id}/recordings`, [out]);
        showOk("Recording config saved");
        render();
      });
    });
    return form;
  }

  function layerRow(tbody, layer = {}) {
    const cell = (label, input) => el("td", { "data-label": label }, input);
    const inputs = {
      width: numberInput("layer-width", layer.width, { min: 2, max: 1920, "aria-label": "Width" }),
      height: numberInput("layer-height", layer.height, { min: 2, max: 1920, "aria-label": "Height" }),
      videoBitrate: numberInput("layer-video-bitrate", layer.videoBitrate, { min: 50, max: 20000, "aria-label": "Video kbps" }),
      audioBitrate: numberInput("layer-audio-bitrate", layer.audioBitrate, { min: 16, max: 512, "aria-label": "Audio kbps" }),
    };
    const remove = el("button", { type: "button", "data-testid": "layer-remove" }, "Remove");
    const tr = el(
      "tr",
      { "data-testid": "layer-row" },
      cell("Width", inputs.width),
      cell("Height", inputs.height),
      cell("Video kbps", inputs.videoBitrate),
      cell("Audio kbps", inputs.audioBitrate),
      el("td", {}, remove),
    );
    tr.layerInputs = inputs;
    remove.addEventListener("click", () => {
      tr.remove();
      tbody.dispatchEvent(new Event("layers-changed"));
    });
    tbody.append(tr);
    tbody.dispatchEvent(new Event("layers-changed"));
    return inputs;
  }

  function hlsPanel(savedName, saved) {
    const base = clone(saved);
    const name = el("input", { "data-testid": "hls-name", value: savedName ?? "hls", maxlength: 100, autocomplete: "off" });
    const playlist = el(
      "select",
      { "data-testid": "hls-playlist-type" },
      el("option", { value: "" }, "default (event)"),
      el("option", { value: "event", selected: base.playlistType === "event" }, "event: the playlist keeps every segment"),
      el("option", { value: "live", selected: base.playlistType === "live" }, "live: a sliding window"),
    );
    const segments = numberInput("hls-segments", base.numPlaylistSegments, { min: 3, max: 150 });
    const maxDuration = numberInput("hls-max-duration", base.maxDuration, { min: 0, max: 43200 });
    const vod = checkbox("Record a VOD (hlsVod)", base.recording?.hlsVod, { "data-testid": "hls-vod" });
    const single = checkbox("One MP4 file per layer (singleFilePerLayer)", base.recording?.singleFilePerLayer, {
      "data-testid": "hls-single-file",
    });
    const tbody = el("tbody", {});
    const addLayer = el("button", { type: "button", "data-testid": "add-layer" }, "Add layer");
    const layerCount = el("span", { class: "muted", "data-testid": "layer-count" });
    tbody.addEventListener("layers-changed", () => {
      const n = tbody.children.length;
      addLayer.disabled = n >= MAX_LAYERS;
      layerCount.textContent = n
        ? `${n} layer${n === 1 ? "" : "s"}, highest resolution first`
        : "No layers: tapedeck's default ladder is used.";
    });
    for (const l of base.layers ?? []) layerRow(tbody, l);
    tbody.dispatchEvent(new Event("layers-changed"));
    addLayer.addEventListener("click", () => layerRow(tbody).width.focus());

    const save = el("button", { type: "submit", class: "primary", "data-testid": "hls-save" }, "Save HLS destination");
    const remove = confirmButton({
      label: savedName ? "Remove destination" : "Discard",
      question: savedName ? `Remove HLS destination ${savedName}?` : "Discard this new destination?",
      testid: "hls-remove",
      busyText: "Removing…",
      action: async () => {
        if (savedName) {
          const all = clone(state.t.destinations?.hlsDestinations);
          delete all[savedName];
          state.t.destinations = await api("POST", `/v2/templates/${id}/destinations`, { hlsDestinations: all });
          showOk(`HLS destination ${savedName} removed`);
        }
        render();
      },
    });
    const form = el(
      "form",
      { novalidate: true, class: "panel tpl-hls", "data-testid": "hls-destination", "data-name": savedName ?? "" },
      el("h3", {}, savedName ? `HLS destination ${savedName}` : "New HLS destination"),
      el(
        "div",
        { class: "row" },
        field("Name", name),
        field("Playlist type", playlist),
        field("Playlist segments", segments, "live only, 3–150"),
        field("Max duration (s)", maxDuration, "0–43200"),
      ),
      el(
        "fieldset",
        {},
        el("legend", {}, "Layers (even sizes; shorter side 144–1080, longer 192–1920)"),
        el(
          "table",
          { class: "tpl-layers", "data-testid": "hls-layers" },
          el(
            "thead",
            {},
            el(
              "tr",
              {},
              el("th", {}, "Width"),
              el("th", {}, "Height"),
              el("th", {}, "Video kbps"),
              el("th", {}, "Audio kbps"),
              el("th", {}, ""),
            ),
          ),
          tbody,
        ),
        el("div", { class: "row tpl-actions" }, layerCount, addLayer),
      ),
      el("fieldset", {}, el("legend", {}, "Recording of the stream"), el("div", { class: "tpl-checks" }, vod.node, single.node)),
      el("div", { class: "row tpl-actions" }, save, remove),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void busy(save, "Saving…", async () => {
        const newName = name.value.trim();
        const all = clone(state.t.destinations?.hlsDestinations);
        if (newName !== savedName && all[newName])
          throw problem(`An HLS destination named ${newName} already exists`, ["pick another name, or edit that one"]);
        const out = clone(savedName ? all[savedName] : {});
        out.name = newName;
        setOrDelete(out, "playlistType", playlist.value || undefined);
        setOrDelete(out, "numPlaylistSegments", num(segments));
        setOrDelete(out, "maxDuration", num(maxDuration));
        const layers = [...tbody.children].map((tr) => {
          const l = {};
          for (const [k, input] of Object.entries(tr.layerInputs)) setOrDelete(l, k, num(input));
          return l;
        });
        setOrDelete(out, "layers", layers.length ? layers : undefined);
        out.recording = { ...clone(out.recording), hlsVod: vod.box.checked, singleFilePerLayer: single.box.checked };
        if (savedName && savedName !== newName) delete all[savedName];
        all[newName] = out;
        state.t.destinations = await api("POST", `/v2/templates/${id}/destinations`, { hlsDestinations: all });
        showOk(`HLS destination ${newName} saved`, [`${layers.length || "default"} layer${layers.length === 1 ? "" : "s"}`]);
        render();
      });
    });
    return form;
  }

  function render() {
    roleSelects.clear();
    const hls = state.t.destinations?.hlsDestinations ?? {};
    const list = el("div", { "data-testid": "hls-destinations" }, ...Object.entries(hls).map(([n, d]) => hlsPanel(n, d)));
    const add = el("button", { type: "button", "data-testid": "add-hls" }, "Add HLS destination");
    add.addEventListener("click", () => {
      const form = hlsPanel(null, { layers: [{ width: 1280, height: 720, videoBitrate: 2500, audioBitrate: 128 }] });
      list.append(form);
      form.querySelector('[data-testid="hls-name"]').focus();
    });
    section.replaceChildren(
      configPanel(),
      el(
        "div",
        { class: "panel" },
        el("h2", {}, "HLS destinations"),
        el(
          "p",
          { class: "muted" },
          Object.keys(hls).length
            ? "Live streams started in rooms of this template use these settings."
            : "None yet: live streams use tapedeck's defaults.",
        ),
        list,
        el("div", { class: "row tpl-actions" }, add),
      ),
    );
  }

  return { render, syncRoles: () => roleSelects.forEach(fillRoles) };
}
