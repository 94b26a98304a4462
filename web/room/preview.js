import { el } from "./grid.js";
import { getLocalMedia, listDevices, stopStream } from "./media.js";

// The preview before joining: camera and microphone selection, a local preview, the display name and a
// Join button. Resolves with what the user chose; the stream it opened is handed on to the room, so the
// camera is not opened twice.

/**
 * @param {{ root: HTMLElement, name: string }} opts
 * @returns {Promise<{ name: string, stream: MediaStream, audio: boolean, video: boolean, cameraId?: string, micId?: string }>}
 */
export function runPreview({ root, name }) {
  const q = (id) => root.querySelector(`[data-testid="${id}"]`);
  const form = q("preview-form");
  const nameInput = q("name-input");
  const cameraSelect = q("camera-select");
  const micSelect = q("mic-select");
  const video = q("preview-video");
  const note = q("preview-media-note");
  nameInput.value = name;
  root.hidden = false;

  let stream = new MediaStream();
  let generation = 0;

  const open = async () => {
    const mine = ++generation;
    stopStream(stream);
    const cameraId = cameraSelect.value || undefined;
    const micId = micSelect.value || undefined;
    const got = await getLocalMedia({
      audio: micSelect.value !== "none",
      video: cameraSelect.value !== "none",
      cameraId: cameraId === "none" ? undefined : cameraId,
      micId: micId === "none" ? undefined : micId,
    });
    if (mine !== generation) {
      stopStream(got.stream); // a newer choice replaced this one while it opened
      return;
    }
    stream = got.stream;
    video.srcObject = stream.getVideoTracks().length ? stream : null;
    note.hidden = got.problems.length === 0;
    note.textContent = got.problems.length ? `${got.problems.join("; ")}. You can still join and watch.` : "";
    await fillDevices();
  };

  const fillDevices = async () => {
    const { cameras, mics } = await listDevices();
    const current = (track) => track?.getSettings().deviceId;
    fill(cameraSelect, cameras, current(stream.getVideoTracks()[0]), "No camera");
    fill(micSelect, mics, current(stream.getAudioTracks()[0]), "No microphone");
  };

  cameraSelect.addEventListener("change", open);
  micSelect.addEventListener("change", open);
  const ready = fillDevices().then(open);

  return new Promise((resolve) => {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const chosen = nameInput.value.trim();
      if (!chosen) {
        nameInput.focus();
        return;
      }
      await ready;
      root.hidden = true;
      generation++;
      resolve({
        name: chosen,
        stream,
        video: cameraSelect.value !== "none",
        audio: micSelect.value !== "none",
        cameraId: cameraSelect.value && cameraSelect.value !== "none" ? cameraSelect.value : undefined,
        micId: micSelect.value && micSelect.value !== "none" ? micSelect.value : undefined,
      });
    });
    if (!name) nameInput.focus();
  });
}

function fill(select, devices, selectedId, noneLabel) {
  const wanted = selectedId ?? select.value;
  const options = devices.map((d, i) => {
    const o = el("option", "", { value: d.deviceId });
    o.textContent = d.label || `Device ${i + 1}`;
    return o;
  });
  const none = el("option", "", { value: "none" });
  none.textContent = noneLabel;
  select.replaceChildren(...options, none);
  select.value = [...select.options].some((o) => o.value === wanted) ? wanted : (options[0]?.value ?? "none");
}

/**
 * What the page shows before joining: the room's name and whether it is open (`GET /room/<id>/info`
 * with the page's app token). Null when it cannot be told (a bad or expired token: joining says why).
 * @returns {Promise<{ id: string, name: string, enabled: boolean } | null>}
 */
export async function fetchRoomInfo(roomId, token) {
  try {
    const res = await fetch(`/room/${encodeURIComponent(roomId)}/info`, { headers: { authorization: `Bearer ${token}` } });
    return res.ok ? await res.json() : null;
  } catch {
    return null;
  }
}
