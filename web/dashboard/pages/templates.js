// Templates: the list and a new template (#/templates), and one template (#/templates/<id>) in three tabs:
// - Roles: what each role may publish (publishParams.allowed), whom it sees (subscribeParams.subscribeToRoles)
//   and its permissions; add or delete a role (GET|POST|DELETE /v2/templates/:id/roles/:role).
// - Recording & HLS: the template's one recording config (POST …/recordings) and its HLS destinations
//   (POST …/destinations {hlsDestinations}).
// - Destinations (storage): the bucket recordings are uploaded to (POST …/settings {recording: {upload}})
//   and "Validate Config" (POST /v2/storage/validate).
// Every save sends the stored object back with only the form's fields changed, so keys this page does not
// show (codec, priority, thumbnails…) are kept. The storage secret is write-only: the API returns only the
// access key, the form never shows a secret, and saving with the secret field empty keeps the stored one.

import { listAll } from "../api.js";
import { busy, el, formatTime, table } from "../ui.js";

const TRACKS = [["audio", "Audio"], ["video", "Video"], ["screen", "Screen share"]];
// As src/templates/default-roles.ts (ALL_PERMISSIONS); keys a role already has are shown too.
const PERMISSIONS = [
  ["browserRecording", "Start/stop browser recording"],
  ["hlsStreaming", "Start/stop HLS streaming"],
  ["rtmpStreaming", "Start/stop RTMP streaming"],
  ["endRoom", "End the room"],
  ["removeOthers", "Remove other peers"],
  ["mute", "Mute others"],
  ["unmute", "Ask others to unmute"],
  ["changeRole", "Change others' roles"],
  ["pollRead", "See polls"],
  ["pollWrite", "Create polls"],
];
const STORAGE_TYPES = [
  ["s3", "Amazon S3"],
  ["gs", "Google Cloud Storage (HMAC key)"],
  ["oss", "Alibaba Cloud OSS"],
  ["custom", "Custom S3 endpoint (MinIO, R2, Ceph…)"],
];
const REGION_HINT = { s3: "default us-east-1", gs: "optional (auto)", oss: "required, e.g. cn-hangzhou", custom: "optional" };
const MAX_LAYERS = 8; // layersSchema in src/templates/template.schema.ts

/** The tab last shown for each template, so a re-render keeps the user where they were. */
const lastTab = new Map();
let fieldCount = 0;

/** An error for the toast that did not come from the API. */
const problem = (message, details = []) => Object.assign(new Error(message), { details });
/** A number input's value, or undefined when empty. */
const num = (input) => (input.value.trim() === "" ? undefined : Number(input.value));
const setOrDelete = (obj, key, value) => {
  if (value === undefined) delete obj[key];
  else obj[key] = value;
  return obj;
};
const clone = (v) => (v === undefined || v === null ? {} : structuredClone(v));
const enc = encodeURIComponent;

/** A labelled input in its own block. */
function field(label, input, hint) {
  input.id ||= `tpl-f${++fieldCount}`;
  return el("div", { class: "tpl-field" }, el("label", { for: input.id }, label, hint ? el("span", { class: "tpl-hint" }, ` (${hint})`) : null), input);
}
const numberInput = (testid, value, attrs = {}) => el("input", { type: "number", inputmode: "numeric", step: 1, "data-testid": testid, value: value ?? "", ...attrs });
function checkbox(label, checked, attrs = {}) {
  const box = el("input", { type: "checkbox", checked: Boolean(checked), ...attrs });
  return { box, node: el("label", { class: "check" }, box, label) };
}

/** A button that asks "sure?" inline (no window.confirm) before running `action` under busy(). */
function confirmButton({ label, question, testid, busyText, action }) {
  const start = el("button", { type: "button", class: "danger", "data-testid": testid }, label);
  const yes = el("button", { type: "button", class: "danger", "data-testid": `${testid}-confirm` }, label);
  const no = el("button", { type: "button", "data-testid": `${testid}-cancel` }, "Cancel");
  const ask = el("span", { class: "tpl-confirm", hidden: true }, el("span", {}, question), yes, no);
  start.addEventListener("click", () => { start.hidden = true; ask.hidden = false; });
  no.addEventListener("click", () => { start.hidden = false; ask.hidden = true; });
  // Done or refused (the toast says why), the question closes.
  yes.addEventListener("click", () => void busy(yes, busyText, action).finally(() => { start.hidden = false; ask.hidden = true; }));
  return el("span", { class: "tpl-confirm-wrap" }, start, ask);
}

export async function render(view, ctx) {
  if (ctx.page === "template") return renderTemplate(view, ctx, ctx.params[0]);
  return renderList(view, ctx);
}

// ------------------------------------------------------------------------------------------- the list

async function renderList(view, { api, navigate, showOk }) {
  const templates = await listAll("/v2/templates");
  const name = el("input", { id: "template-name", "data-testid": "template-name", placeholder: "e.g. webinar", maxlength: 100, autocomplete: "off" });
  const create = el("button", { type: "submit", class: "primary", "data-testid": "create-template" }, "Create template");
  const form = el("form", { novalidate: true, class: "panel" },
    el("h2", {}, "New template"),
    el("div", { class: "row" }, field("Name (letters, digits, . - : _; empty: a generated name)", name), create),
    el("p", { class: "muted" }, "It starts with two roles: host (may do everything) and guest; change them on its page."));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void busy(create, "Creating…", async () => {
      const wanted = name.value.trim();
      // POST /v2/templates with an existing name overwrites that template (as in 100ms): not what "create" means.
      const clash = templates.find((t) => t.name.toLowerCase() === wanted.toLowerCase());
      if (wanted && clash) throw problem(`A template named ${clash.name} already exists`, ["template names are case-insensitive: pick another name, or open that template to change it"]);
      const t = await api("POST", "/v2/templates", wanted ? { name: wanted } : {});
      showOk(`Template ${t.name} created`, [`roles: ${Object.keys(t.roles ?? {}).join(", ")}`]);
      navigate(`#/templates/${t.id}`);
    });
  });

  const rows = templates.map((t) => [
    el("a", { href: `#/templates/${t.id}`, "data-testid": "template-link" }, t.name),
    el("span", { class: "mono" }, t.id),
    el("span", { class: "tpl-badges", "data-testid": "template-roles" }, ...Object.keys(t.roles ?? {}).map((r) => el("span", { class: "badge" }, r))),
    formatTime(t.created_at),
  ]);
  view.replaceChildren(el("div", { class: "tpl-page" },
    el("h1", {}, "Templates"),
    form,
    el("div", { class: "panel" }, table(["Name", "Id", "Roles", "Created"], rows, { testid: "templates", rowIds: templates.map((t) => t.id), empty: "No templates yet: create one above." }))));
}

// ------------------------------------------------------------------------------------- one template

async function renderTemplate(view, ctx, id) {
  const { api } = ctx;
  /** The template as last read or written; sections update it after each save. */
  const state = { t: await api("GET", `/v2/templates/${id}`) };
  const reload = async () => { state.t = await api("GET", `/v2/templates/${id}`); };

  const tabs = [["roles", "Roles"], ["recording", "Recording & HLS"], ["storage", "Destinations (storage)"]];
  const sections = Object.fromEntries(tabs.map(([key]) => [key, el("section", { class: "tpl-section", "data-testid": `${key}-panel`, role: "tabpanel" })]));
  const buttons = tabs.map(([key, label]) => el("button", { type: "button", role: "tab", "data-testid": `tab-${key}`, "data-tab": key }, label));
  const show = (key) => {
    lastTab.set(id, key);
    for (const b of buttons) b.setAttribute("aria-selected", String(b.dataset.tab === key));
    for (const [k, s] of Object.entries(sections)) s.hidden = k !== key;
  };
  for (const b of buttons) b.addEventListener("click", () => show(b.dataset.tab));

  const recording = recordingSection(sections.recording, state, ctx, id);
  const roles = rolesSection(sections.roles, state, ctx, id, reload, () => recording.syncRoles());
  const storage = storageSection(sections.storage, state, ctx, id);
  roles.render();
  recording.render();
  storage.render();

  view.replaceChildren(el("div", { class: "tpl-page" },
    el("p", {}, el("a", { href: "#/templates", "data-testid": "back-to-templates" }, "← Templates")),
    el("h1", { "data-testid": "template-title" }, state.t.name),
    el("p", { class: "muted" }, "Id ", el("span", { class: "mono", "data-testid": "template-id" }, state.t.id), ` · created ${formatTime(state.t.created_at)}`),
    el("div", { class: "tpl-tabs", role: "tablist" }, ...buttons),
    ...Object.values(sections)));
  show(lastTab.get(id) ?? "roles");
}

// ------------------------------------------------------------------------------------------------ roles

function rolesSection(section, state, { api, showOk }, id, reload, onRolesChanged) {
  function rolePanel(name, initial, allNames) {
    let role = initial;
    const allowed = new Set(role.publishParams?.allowed ?? []);
    const subs = new Set(role.subscribeParams?.subscribeToRoles ?? []);
    const perms = role.permissions ?? {};
    const publish = TRACKS.map(([k, label]) => ({ k, ...checkbox(label, allowed.has(k), { "data-testid": `publish-${k}` }) }));
    const subscribe = allNames.map((r) => ({ k: r, ...checkbox(r, subs.has(r), { "data-testid": "subscribe", "data-role": r }) }));
    const permKeys = [...PERMISSIONS, ...Object.keys(perms).filter((k) => !PERMISSIONS.some(([p]) => p === k)).map((k) => [k, k])];
    const permissions = permKeys.map(([k, label]) => ({ k, ...checkbox(label, perms[k] === true, { "data-testid": `perm-${k}` }) }));

    const save = el("button", { type: "submit", class: "primary", "data-testid": "role-save" }, "Save role");
    const remove = confirmButton({
      label: "Delete role", question: `Delete role ${name}?`, testid: "role-delete", busyText: "Deleting…",
      action: async () => {
        await api("DELETE", `/v2/templates/${id}/roles/${enc(name)}`);
        showOk(`Role ${name} deleted`);
        await reload();
        render();
        onRolesChanged();
      },
    });
    const form = el("form", { novalidate: true, class: "panel tpl-role", "data-testid": "role", "data-role": name },
      el("h2", {}, name),
      el("fieldset", {}, el("legend", {}, "May publish"), el("div", { class: "tpl-checks" }, ...publish.map((c) => c.node))),
      el("fieldset", {}, el("legend", {}, "Sees (subscribes to)"), el("div", { class: "tpl-checks" }, ...subscribe.map((c) => c.node))),
      el("fieldset", {}, el("legend", {}, "Permissions"), el("div", { class: "tpl-checks" }, ...permissions.map((c) => c.node))),
      el("div", { class: "row tpl-actions" }, save, remove));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void busy(save, "Saving…", async () => {
        const body = clone(role);
        body.publishParams = { ...clone(role.publishParams), allowed: publish.filter((c) => c.box.checked).map((c) => c.k) };
        body.subscribeParams = { ...clone(role.subscribeParams), subscribeToRoles: subscribe.filter((c) => c.box.checked).map((c) => c.k) };
        body.permissions = { ...clone(role.permissions), ...Object.fromEntries(permissions.map((c) => [c.k, c.box.checked])) };
        role = await api("POST", `/v2/templates/${id}/roles/${enc(name)}`, body);
        state.t.roles[name] = role;
        const granted = Object.entries(role.permissions ?? {}).filter(([, v]) => v).map(([k]) => k);
        showOk(`Role ${name} saved`, [
          `publishes: ${(role.publishParams?.allowed ?? []).join(", ") || "nothing"}`,
          `sees: ${(role.subscribeParams?.subscribeToRoles ?? []).join(", ") || "nobody"}`,
          `permissions: ${granted.join(", ") || "none"}`,
        ]);
      });
    });
    return form;
  }

  function addRoleForm(allNames) {
    const name = el("input", { "data-testid": "new-role-name", placeholder: "e.g. viewer", maxlength: 100, autocomplete: "off" });
    const add = el("button", { type: "submit", "data-testid": "add-role" }, "Add role");
    const form = el("form", { novalidate: true, class: "panel" }, el("h2", {}, "Add a role"),
      el("div", { class: "row" }, field("Name (letters, digits, . - : _)", name), add),
      el("p", { class: "muted" }, "It may publish audio, video and screen, sees every role, and has no permissions until you give it some."));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void busy(add, "Adding…", async () => {
        const wanted = name.value.trim();
        if (!wanted) throw problem("Give the role a name");
        if (allNames.includes(wanted)) throw problem(`Role ${wanted} already exists`, ["saving it here would replace it: edit it above instead"]);
        await api("POST", `/v2/templates/${id}/roles/${enc(wanted)}`, {
          publishParams: { allowed: TRACKS.map(([k]) => k) },
          subscribeParams: { subscribeToRoles: [...allNames, wanted] },
          permissions: Object.fromEntries(PERMISSIONS.map(([k]) => [k, false])),
        });
        showOk(`Role ${wanted} added`, ["other roles do not see it until you tick it under their \"Sees\""]);
        await reload();
        render();
        onRolesChanged();
      });
    });
    return form;
  }

  function render() {
    const names = Object.keys(state.t.roles ?? {});
    section.replaceChildren(
      el("p", { class: "muted" }, "Each peer joins with one role. A role can be deleted only when no other role, recording config or destination refers to it."),
      ...(names.length ? names.map((n) => rolePanel(n, state.t.roles[n], names)) : [el("p", { class: "muted", "data-testid": "roles-empty" }, "No roles: add one below.")]),
      addRoleForm(names));
  }
  return { render };
}

// ------------------------------------------------------------------------------- recording and HLS

function recordingSection(section, state, { api, showOk }, id) {
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
    const track = checkbox("Track recording (each track on its own, by the SFU)", base.trackRecording?.enabled, { "data-testid": "rec-track" });
    const stream = checkbox("Stream recording (room composite, by the SFU)", base.streamRecording?.enabled, { "data-testid": "rec-stream" });
    const custom = checkbox("Custom composite", base.compositeRecording?.customComposite?.enabled, { "data-testid": "rec-custom" });
    const save = el("button", { type: "submit", class: "primary", "data-testid": "rec-save" }, "Save recording config");
    const remove = saved ? confirmButton({
      label: "Remove config", question: "Remove the recording config?", testid: "rec-remove", busyText: "Removing…",
      action: async () => {
        state.t.recordings = await api("POST", `/v2/templates/${id}/recordings`, []);
        showOk("Recording config removed");
        render();
      },
    }) : null;

    const form = el("form", { novalidate: true, class: "panel", "data-testid": "recording-config" },
      el("h2", {}, "Recording config"),
      el("p", { class: "muted", "data-testid": "rec-state" }, saved ? `Saved as ${saved.name}.` : "None saved yet: these are the defaults."),
      el("div", { class: "row" }, field("Name", name), field("Recorder's role", role), field("Max duration (s)", maxDuration, "0–43200")),
      el("fieldset", {}, el("legend", {}, "Browser composite"),
        autoStart.node,
        el("div", { class: "row" }, field("Auto-stop after (s)", autoStop, "once everyone left"), field("Width", width, "px"), field("Height", height, "px"))),
      el("fieldset", {}, el("legend", {}, "Other recordings"), el("div", { class: "tpl-checks" }, track.node, stream.node, custom.node)),
      el("div", { class: "row tpl-actions" }, save, remove));
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
    const tr = el("tr", { "data-testid": "layer-row" },
      cell("Width", inputs.width), cell("Height", inputs.height), cell("Video kbps", inputs.videoBitrate), cell("Audio kbps", inputs.audioBitrate), el("td", {}, remove));
    tr.layerInputs = inputs;
    remove.addEventListener("click", () => { tr.remove(); tbody.dispatchEvent(new Event("layers-changed")); });
    tbody.append(tr);
    tbody.dispatchEvent(new Event("layers-changed"));
    return inputs;
  }

  function hlsPanel(savedName, saved) {
    const base = clone(saved);
    const name = el("input", { "data-testid": "hls-name", value: savedName ?? "hls", maxlength: 100, autocomplete: "off" });
    const playlist = el("select", { "data-testid": "hls-playlist-type" },
      el("option", { value: "" }, "default (event)"), el("option", { value: "event", selected: base.playlistType === "event" }, "event: the playlist keeps every segment"),
      el("option", { value: "live", selected: base.playlistType === "live" }, "live: a sliding window"));
    const segments = numberInput("hls-segments", base.numPlaylistSegments, { min: 3, max: 150 });
    const maxDuration = numberInput("hls-max-duration", base.maxDuration, { min: 0, max: 43200 });
    const vod = checkbox("Record a VOD (hlsVod)", base.recording?.hlsVod, { "data-testid": "hls-vod" });
    const single = checkbox("One MP4 file per layer (singleFilePerLayer)", base.recording?.singleFilePerLayer, { "data-testid": "hls-single-file" });
    const tbody = el("tbody", {});
    const addLayer = el("button", { type: "button", "data-testid": "add-layer" }, "Add layer");
    const layerCount = el("span", { class: "muted", "data-testid": "layer-count" });
    tbody.addEventListener("layers-changed", () => {
      const n = tbody.children.length;
      addLayer.disabled = n >= MAX_LAYERS;
      layerCount.textContent = n ? `${n} layer${n === 1 ? "" : "s"}, highest resolution first` : "No layers: tapedeck's default ladder is used.";
    });
    for (const l of base.layers ?? []) layerRow(tbody, l);
    tbody.dispatchEvent(new Event("layers-changed"));
    addLayer.addEventListener("click", () => layerRow(tbody).width.focus());

    const save = el("button", { type: "submit", class: "primary", "data-testid": "hls-save" }, "Save HLS destination");
    const remove = confirmButton({
      label: savedName ? "Remove destination" : "Discard", question: savedName ? `Remove HLS destination ${savedName}?` : "Discard this new destination?",
      testid: "hls-remove", busyText: "Removing…",
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
    const form = el("form", { novalidate: true, class: "panel tpl-hls", "data-testid": "hls-destination", "data-name": savedName ?? "" },
      el("h3", {}, savedName ? `HLS destination ${savedName}` : "New HLS destination"),
      el("div", { class: "row" }, field("Name", name), field("Playlist type", playlist), field("Playlist segments", segments, "live only, 3–150"), field("Max duration (s)", maxDuration, "0–43200")),
      el("fieldset", {}, el("legend", {}, "Layers (even sizes; shorter side 144–1080, longer 192–1920)"),
        el("table", { class: "tpl-layers", "data-testid": "hls-layers" },
          el("thead", {}, el("tr", {}, el("th", {}, "Width"), el("th", {}, "Height"), el("th", {}, "Video kbps"), el("th", {}, "Audio kbps"), el("th", {}, ""))),
          tbody),
        el("div", { class: "row tpl-actions" }, layerCount, addLayer)),
      el("fieldset", {}, el("legend", {}, "Recording of the stream"), el("div", { class: "tpl-checks" }, vod.node, single.node)),
      el("div", { class: "row tpl-actions" }, save, remove));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void busy(save, "Saving…", async () => {
        const newName = name.value.trim();
        const all = clone(state.t.destinations?.hlsDestinations);
        if (newName !== savedName && all[newName]) throw problem(`An HLS destination named ${newName} already exists`, ["pick another name, or edit that one"]);
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
      el("div", { class: "panel" },
        el("h2", {}, "HLS destinations"),
        el("p", { class: "muted" }, Object.keys(hls).length ? "Live streams started in rooms of this template use these settings." : "None yet: live streams use tapedeck's defaults."),
        list,
        el("div", { class: "row tpl-actions" }, add)));
  }

  return { render, syncRoles: () => roleSelects.forEach(fillRoles) };
}

// ---------------------------------------------------------------------------------- storage destination

function storageSection(section, state, { api, showOk }, id) {
  const savedUpload = () => state.t.settings?.recording?.upload ?? null;
  const formType = (u) => (u ? (u.type === "s3" && u.options?.endpoint ? "custom" : u.type) : "s3");

  function render() {
    const saved = savedUpload();
    const type = el("select", { "data-testid": "storage-type" }, ...STORAGE_TYPES.map(([v, label]) => el("option", { value: v, selected: v === formType(saved) }, label)));
    const endpoint = el("input", { type: "url", "data-testid": "storage-endpoint", value: saved?.options?.endpoint ?? "", placeholder: "https://minio.example.com", autocomplete: "off" });
    const key = el("input", { "data-testid": "storage-key", value: saved?.credentials?.key ?? "", autocomplete: "off", spellcheck: "false" });
    const secret = el("input", { type: "password", "data-testid": "storage-secret", value: "", autocomplete: "new-password", placeholder: saved?.credentials ? "saved: type only to replace it" : "" });
    const bucket = el("input", { "data-testid": "storage-bucket", value: saved?.location ?? "", placeholder: "my-recordings", autocomplete: "off", spellcheck: "false" });
    const region = el("input", { "data-testid": "storage-region", value: saved?.options?.region ?? "", autocomplete: "off" });
    const prefix = el("input", { "data-testid": "storage-prefix", value: saved?.prefix ?? "", placeholder: "recordings", autocomplete: "off" });
    const endpointField = field("Endpoint URL", endpoint);
    const regionField = field("Region", region, REGION_HINT[type.value]);
    const syncType = () => {
      endpointField.hidden = type.value !== "custom";
      regionField.querySelector(".tpl-hint").textContent = ` (${REGION_HINT[type.value]})`;
    };
    type.addEventListener("change", syncType);
    syncType();

    const secretState = el("p", { class: "tpl-secret-state", "data-testid": "secret-state" },
      !saved ? "No destination saved: recordings go to tapedeck's internal bucket."
        : saved.credentials ? `A secret is saved for access key ${saved.credentials.key}. Leave the secret empty to keep it.`
          : "No secret is saved for this destination.");
    if (saved?.credentials) secretState.dataset.saved = "true";

    /** The destination as the form describes it; `withSecret` false sends only the access key. */
    const destination = (withSecret) => {
      const t = type.value === "custom" ? "s3" : type.value;
      const options = {};
      if (region.value.trim()) options.region = region.value.trim();
      if (type.value === "custom") options.endpoint = endpoint.value.trim();
      // force_path_style and a gs/oss endpoint are not on the form: keep them while the type stays.
      if (saved && formType(saved) === type.value) {
        if (saved.options?.force_path_style !== undefined) options.force_path_style = saved.options.force_path_style;
        if (type.value !== "custom" && saved.options?.endpoint) options.endpoint = saved.options.endpoint;
      }
      const d = { type: t, location: bucket.value.trim(), prefix: prefix.value.trim(), options };
      if (key.value.trim()) d.credentials = withSecret && secret.value ? { key: key.value.trim(), secretKey: secret.value } : { key: key.value.trim() };
      return d;
    };
    /** Whether the stored secret still belongs to what the form says (the API keeps it only then). */
    const sameAsSaved = (d) => Boolean(saved?.credentials) && saved.type === d.type && saved.location === d.location && saved.credentials.key === d.credentials?.key;
    const unchanged = (d) => sameAsSaved(d) && (saved.prefix ?? "") === d.prefix.replace(/^\/+|\/+$/g, "")
      && (saved.options?.region ?? "") === (d.options.region ?? "") && (saved.options?.endpoint ?? "") === (d.options.endpoint ?? "");

    const report = el("div", { class: "tpl-report", "data-testid": "validate-report", hidden: true });
    const progress = el("p", { class: "progress", "data-testid": "validate-progress", hidden: true }, "Validating: uploading a probe object, reading it back, deleting it…");
    const validate = el("button", { type: "button", "data-testid": "validate-storage" }, "Validate Config");
    const save = el("button", { type: "submit", class: "primary", "data-testid": "save-storage" }, "Save destination");
    const remove = saved ? confirmButton({
      label: "Use the internal bucket", question: "Forget this destination and its secret?", testid: "storage-remove", busyText: "Saving…",
      action: async () => {
        const settings = await api("POST", `/v2/templates/${id}/settings`, { recording: { upload: null } });
        state.t.settings = settings;
        showOk("Destination removed", ["recordings go to tapedeck's internal bucket"]);
        render();
      },
    }) : null;

    validate.addEventListener("click", () => void busy(validate, "Validating…", async () => {
      const d = destination(true);
      let body = d;
      if (!secret.value && saved?.credentials) {
        if (!unchanged(d)) {
          throw problem("Type the secret to validate these settings", [
            "with the secret field empty, Validate checks the saved destination, but the form differs from it",
            "or save first (the saved secret is kept while type, bucket and access key stay the same), then validate",
          ]);
        }
        body = { template_id: id };
      }
      report.hidden = true;
      progress.hidden = false;
      try {
        showReport(report, await api("POST", "/v2/storage/validate", body), body.template_id ? "the saved destination" : "the form's destination");
      } finally {
        progress.hidden = true;
      }
    }));

    const form = el("form", { novalidate: true, class: "panel", "data-testid": "storage-form", autocomplete: "off" },
      el("h2", {}, "Where recordings are uploaded"),
      el("p", { class: "muted" }, "Rooms of this template upload recordings, HLS and their files here (a room's own upload_info wins). Recording needs upload and download permission; delete is not needed."),
      el("div", { class: "row" }, field("Storage", type), endpointField),
      el("div", { class: "row" }, field("Access key", key), field("Secret key", secret, "write-only")),
      secretState,
      el("div", { class: "row" }, field("Bucket", bucket), regionField, field("Prefix", prefix, "empty: your customer id")),
      el("div", { class: "row tpl-actions" }, validate, save, remove),
      progress,
      report);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void busy(save, "Saving…", async () => {
        const d = destination(true);
        if (!secret.value && d.credentials) {
          if (saved?.credentials && !sameAsSaved(d)) {
            throw problem("Type the secret", [`the saved secret belongs to access key ${saved.credentials.key} in bucket ${saved.location}; it is kept only while the type, bucket and access key stay the same`]);
          }
          if (!saved?.credentials) throw problem(`Type the secret for access key ${d.credentials.key}`);
        }
        const settings = await api("POST", `/v2/templates/${id}/settings`, { recording: { upload: d } });
        state.t.settings = settings;
        const stored = settings.recording?.upload;
        showOk("Destination saved", [
          `${stored.type}://${stored.location}/${stored.prefix || "<customer id>"}`,
          stored.credentials ? `secret ${secret.value ? "saved" : "kept"} for access key ${stored.credentials.key}` : "no secret saved",
        ]);
        render();
      });
    });
    section.replaceChildren(form);
  }

  function showReport(report, r, what) {
    const failed = (r.checks ?? []).find((c) => !c.ok);
    report.className = `tpl-report ${r.valid ? "ok" : "bad"}`;
    report.dataset.valid = String(r.valid);
    report.replaceChildren(
      el("p", { class: "tpl-report-title" }, r.valid ? `✓ Valid: ${what}` : `✗ Not valid: ${what}`),
      el("p", { "data-testid": "validate-message" }, r.message),
      failed ? el("p", { "data-testid": "validate-failed-step" }, `Failed step: ${failed.step}`) : null,
      el("ul", { class: "report", "data-testid": "validate-checks" },
        ...(r.checks ?? []).map((c) => el("li", { class: c.ok ? "ok" : "bad", "data-step": c.step, "data-ok": String(c.ok) }, `${c.ok ? "✓" : "✗"} ${c.step}: ${c.message}`))));
    report.hidden = false;
  }

  return { render };
}
