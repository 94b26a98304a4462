import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Page } from "playwright-core";
import { startTestApp, type TestApp } from "../support/app.ts";
import { assertFitsWidth, assertNoJunk, dashboardPool, go, ready, toast, withDashboardArtifacts } from "../support/dashboard.ts";
import { startS3rver, type TestS3 } from "../support/s3rver.ts";
import type {
  RecordingConfig,
  StorageValidation,
  Template,
  TemplateDestinations,
  TemplateRole,
  TemplateSettings,
} from "../support/api-types.ts";

// The dashboard's Templates pages in a real headless Chromium against a running tapedeck: the list and a
// new template, roles and permissions, the recording config and HLS destinations, and the storage
// destination with Validate Config against a real S3-protocol server (s3rver behind a SigV4 check, so a
// wrong secret really fails).

/** `window` with the flag the validate test plants: whether the progress indicator was shown. */
type ValidateProbeWindow = Window & { sawValidateProgress?: boolean };

let app: TestApp;
let s3: TestS3;
const dashboards = dashboardPool(() => app);
const dash = dashboards.open;

before(async () => {
  [app, s3] = await Promise.all([startTestApp(), startS3rver({ bucket: "dash-recordings" })]);
});
after(async () => {
  await dashboards.closeAll();
  await app?.close();
  await s3?.stop();
});

async function newTemplate(name: string): Promise<string> {
  const res = await app.api<Template>("POST", "/v2/templates", { name });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.id;
}

const role = (page: Page, name: string) => page.locator(`[data-testid="role"][data-role="${name}"]`);

test("templates: create one from the page, see it listed, edit a role's permissions, add a role, and a refused delete shows the API's reason", async () => {
  const d = await dash();
  await withDashboardArtifacts(
    "templates-roles",
    () => [d],
    async () => {
      const { page } = d;
      await go(page, "#/templates", "templates");
      const name = `dash-tpl-${Date.now()}`;
      await page.getByTestId("template-name").fill(name);
      await page.getByTestId("create-template").click();
      const created = await toast(page);
      assert.equal(created.title, `Template ${name} created`);
      assert.deepEqual(created.details, ["roles: host, guest"]);
      await ready(page, "template");
      assert.equal(await page.getByTestId("template-title").textContent(), name);
      const id = (await page.getByTestId("template-id").textContent())!;
      const stored = (await app.api<Template>("GET", `/v2/templates/${id}`)).body;
      assert.equal(stored.name, name);
      assert.deepEqual(Object.keys(stored.roles), ["host", "guest"]);

      // The same name again is refused by the page (the API would overwrite that template).
      await go(page, "#/templates", "templates");
      const row = page.locator(`tr[data-id="${id}"]`);
      assert.deepEqual(await row.getByTestId("template-roles").locator(".badge").allTextContents(), ["host", "guest"]);
      await page.getByTestId("template-name").fill(name.toUpperCase());
      await page.getByTestId("create-template").click();
      assert.equal((await toast(page)).title, `A template named ${name} already exists`);
      await row.getByTestId("template-link").click();
      await ready(page, "template");

      // Give guests browser recording and take away screen share.
      const guest = role(page, "guest");
      assert.equal(await guest.getByTestId("perm-browserRecording").isChecked(), false);
      await guest.getByTestId("perm-browserRecording").check();
      await guest.getByTestId("publish-screen").uncheck();
      await guest.getByTestId("role-save").click();
      const saved = await toast(page);
      assert.equal(saved.title, "Role guest saved");
      assert.ok(saved.details.includes("publishes: audio, video"), saved.details.join(" | "));
      const guestNow = (await app.api<TemplateRole>("GET", `/v2/templates/${id}/roles/guest`)).body;
      assert.equal(guestNow.permissions?.browserRecording, true);
      assert.equal(guestNow.permissions?.pollRead, true, "other permissions kept");
      assert.deepEqual(guestNow.publishParams?.allowed, ["audio", "video"]);
      assert.equal(guestNow.priority, 2, "fields the page does not show are kept");

      // Add a role; it appears with its own panel.
      await page.getByTestId("new-role-name").fill("viewer");
      await page.getByTestId("add-role").click();
      assert.equal((await toast(page)).title, "Role viewer added");
      await role(page, "viewer").waitFor();
      const viewer = (await app.api<TemplateRole>("GET", `/v2/templates/${id}/roles/viewer`)).body;
      assert.deepEqual(viewer.subscribeParams?.subscribeToRoles, ["host", "guest", "viewer"]);
      assert.equal(viewer.permissions?.endRoom, false);
      // The host now gets a "viewer" box under "Sees"; tick it and save.
      await role(page, "host").locator('[data-testid="subscribe"][data-role="viewer"]').check();
      await role(page, "host").getByTestId("role-save").click();
      assert.equal((await toast(page)).title, "Role host saved");

      // Deleting a role other roles see is refused: the API's message, as it comes.
      // It asks first (the dashboard's confirm dialog).
      await role(page, "viewer").getByTestId("role-delete").click();
      assert.equal(await page.getByTestId("confirm-title").textContent(), "Delete role viewer?");
      await page.getByTestId("confirm-ok").click();
      const refused = await toast(page);
      assert.equal(refused.ok, false);
      assert.equal(refused.title, "Invalid body param: roles.host.subscribeParams.subscribeToRoles: role viewer is not in this template");
      assert.ok("viewer" in (await app.api<Template>("GET", `/v2/templates/${id}`)).body.roles);

      // Untick it on the host, then the delete goes through.
      await role(page, "host").locator('[data-testid="subscribe"][data-role="viewer"]').uncheck();
      await role(page, "host").getByTestId("role-save").click();
      assert.equal((await toast(page)).title, "Role host saved");
      await role(page, "viewer").getByTestId("role-delete").click();
      await page.getByTestId("confirm-ok").click();
      assert.equal((await toast(page)).title, "Role viewer deleted");
      await role(page, "viewer").waitFor({ state: "detached" });
      assert.deepEqual(Object.keys((await app.api<Template>("GET", `/v2/templates/${id}`)).body.roles), ["host", "guest"]);
    },
  );
});

test("recording & HLS: save the recording config; save an HLS destination with two layers; an odd width is refused with the API's message", async () => {
  const id = await newTemplate(`dash-hls-${Date.now()}`);
  const d = await dash();
  await withDashboardArtifacts(
    "templates-hls",
    () => [d],
    async () => {
      const { page } = d;
      await go(page, `#/templates/${id}`, "template");
      await page.getByTestId("tab-recording").click();

      const rec = page.getByTestId("recording-config");
      await rec.getByTestId("rec-role").selectOption("host");
      await rec.getByTestId("rec-max-duration").fill("1800");
      await rec.getByTestId("rec-auto-start").check();
      await rec.getByTestId("rec-width").fill("1280");
      await rec.getByTestId("rec-height").fill("720");
      await rec.getByTestId("rec-track").check();
      await rec.getByTestId("rec-save").click();
      assert.equal((await toast(page)).title, "Recording config saved");
      const recordings = (await app.api<RecordingConfig[]>("GET", `/v2/templates/${id}/recordings`)).body;
      assert.equal(recordings.length, 1);
      assert.equal(recordings[0].name, "default");
      assert.equal(recordings[0].role, "host");
      assert.equal(recordings[0].maxDuration, 1800);
      assert.deepEqual(recordings[0].compositeRecording?.browserComposite, { autoStart: true, width: 1280, height: 720 });
      assert.equal(recordings[0].trackRecording?.enabled, true);
      assert.equal(recordings[0].streamRecording?.enabled, false);
      assert.match((await page.getByTestId("rec-state").textContent()) ?? "", /Saved as default/);

      // A new HLS destination starts with one 1280x720 layer; add a second.
      await page.getByTestId("add-hls").click();
      const hls = page.getByTestId("hls-destination").last();
      await hls.getByTestId("hls-name").fill("live");
      await hls.getByTestId("hls-playlist-type").selectOption("live");
      await hls.getByTestId("hls-segments").fill("6");
      await hls.getByTestId("hls-max-duration").fill("3600");
      await hls.getByTestId("add-layer").click();
      const second = hls.getByTestId("layer-row").nth(1);
      await second.getByTestId("layer-width").fill("640");
      await second.getByTestId("layer-height").fill("360");
      await second.getByTestId("layer-video-bitrate").fill("800");
      await second.getByTestId("layer-audio-bitrate").fill("64");
      await hls.getByTestId("hls-vod").check();
      await hls.getByTestId("hls-save").click();
      const saved = await toast(page);
      assert.equal(saved.title, "HLS destination live saved");
      const live = (await app.api<TemplateDestinations>("GET", `/v2/templates/${id}/destinations`)).body.hlsDestinations?.live;
      assert.deepEqual(live?.layers, [
        { width: 1280, height: 720, videoBitrate: 2500, audioBitrate: 128 },
        { width: 640, height: 360, videoBitrate: 800, audioBitrate: 64 },
      ]);
      assert.equal(live?.playlistType, "live");
      assert.equal(live?.numPlaylistSegments, 6);
      assert.equal(live?.maxDuration, 3600);
      assert.deepEqual(live?.recording, { hlsVod: true, singleFilePerLayer: false });

      // An odd width: the API refuses it and its message shows as is; nothing changes.
      const again = page.locator('[data-testid="hls-destination"][data-name="live"]');
      await again.getByTestId("layer-row").nth(1).getByTestId("layer-width").fill("641");
      await again.getByTestId("hls-save").click();
      const bad = await toast(page);
      assert.equal(bad.ok, false);
      assert.equal(bad.title, "Invalid body param: hlsDestinations.live.layers.1.width: must be even");
      assert.deepEqual(bad.details, ["hlsDestinations.live.layers.1.width: must be even"]);
      assert.equal(
        (await app.api<TemplateDestinations>("GET", `/v2/templates/${id}/destinations`)).body.hlsDestinations?.live.layers?.[1].width,
        640,
      );

      // Remove that layer: one is left.
      await again.getByTestId("layer-row").nth(1).getByTestId("layer-remove").click();
      assert.equal(await again.getByTestId("layer-row").count(), 1);
      await again.getByTestId("hls-save").click();
      assert.equal((await toast(page)).title, "HLS destination live saved");
      assert.equal(
        (await app.api<TemplateDestinations>("GET", `/v2/templates/${id}/destinations`)).body.hlsDestinations?.live.layers?.length,
        1,
      );
      assert.equal(await page.locator('[data-testid="hls-destination"][data-name="live"]').getByTestId("layer-row").count(), 1);
    },
  );
});

test("storage: Validate Config against s3rver (right secret, wrong secret), save, reload: the secret is never shown, and the stored one validates", async () => {
  const id = await newTemplate(`dash-s3-${Date.now()}`);
  const d = await dash();
  await withDashboardArtifacts(
    "templates-storage",
    () => [d],
    async () => {
      const { page } = d;
      const validateBodies: unknown[] = [];
      page.on("request", (r) => {
        if (r.url().endsWith("/v2/storage/validate")) validateBodies.push(r.postDataJSON());
      });
      await go(page, `#/templates/${id}`, "template");
      await page.getByTestId("tab-storage").click();
      const form = page.getByTestId("storage-form");
      assert.match((await form.getByTestId("secret-state").textContent()) ?? "", /internal bucket/);

      await form.getByTestId("storage-type").selectOption("custom");
      await form.getByTestId("storage-endpoint").fill(s3.endpoint);
      await form.getByTestId("storage-key").fill(s3.accessKey);
      await form.getByTestId("storage-secret").fill("Wrong-Secret-42");
      await form.getByTestId("storage-bucket").fill(s3.bucket);
      await form.getByTestId("storage-region").fill("us-east-1");
      await form.getByTestId("storage-prefix").fill("dash");

      // A wrong secret: the failing step and its message, exactly as the API reports them.
      const report = form.getByTestId("validate-report");
      const validate = async (): Promise<{
        valid: boolean;
        message: string;
        checks: Array<{ step: string; ok: boolean; message: string }>;
      }> => {
        await page.evaluate(() => {
          const w = window as ValidateProbeWindow;
          w.sawValidateProgress = false;
          const p = document.querySelector('[data-testid="validate-progress"]')!;
          new MutationObserver(() => {
            if (!p.hasAttribute("hidden")) w.sawValidateProgress = true;
          }).observe(p, { attributes: true });
        });
        const res = page.waitForResponse((r) => r.url().endsWith("/v2/storage/validate"));
        await form.getByTestId("validate-storage").click();
        const body = await (await res).json();
        await page.waitForFunction(() => {
          const r = document.querySelector('[data-testid="validate-report"]');
          return r && !r.hasAttribute("hidden") && document.querySelector('[data-testid="validate-progress"]')!.hasAttribute("hidden");
        });
        assert.equal(
          await page.evaluate(() => (window as ValidateProbeWindow).sawValidateProgress),
          true,
          "progress shown while validating",
        );
        return body;
      };
      const wrong = await validate();
      assert.equal(wrong.valid, false);
      assert.equal(await report.getAttribute("data-valid"), "false");
      assert.equal(await report.getByTestId("validate-failed-step").textContent(), "Failed step: upload");
      assert.equal(await report.getByTestId("validate-message").textContent(), wrong.message);
      assert.match(
        wrong.message,
        /^The access key or secret is wrong: the secret does not match access key "S3RVER" \(SignatureDoesNotMatch\)/,
      );
      assert.deepEqual(await report.locator("li").allTextContents(), [`✗ upload: ${wrong.checks[0].message}`]);
      assert.ok(!JSON.stringify(validateBodies[0]).includes("template_id"), "the form's destination was validated");

      // Saving what just failed is not a quiet green "saved": it is refused once with the reason, and
      // kept only on "Save anyway", with a warning.
      await form.getByTestId("save-storage").click();
      const warned = await toast(page);
      assert.deepEqual([warned.title, warned.ok], ["This destination just failed Validate Config", false]);
      assert.match(warned.details[0], /^upload: /);
      assert.equal(await form.getByTestId("save-storage").textContent(), "Save anyway");
      assert.equal((await app.v2.getTemplate(id)).settings?.recording?.upload ?? null, null, "nothing saved yet");
      await form.getByTestId("save-storage").click();
      const anyway = await toast(page);
      assert.deepEqual([anyway.title, anyway.ok], ["Destination saved, though it failed Validate Config", false]);
      assert.equal(anyway.details[1], `s3://${s3.bucket}/dash`);

      // The right secret: success.
      await form.getByTestId("storage-secret").fill(s3.secret);
      const good = await validate();
      assert.equal(good.valid, true);
      assert.equal(await report.getByTestId("validate-message").textContent(), "Recording upload config validated successfully");
      await assertNoJunk(page, "a valid storage report");
      assert.equal(await report.getByTestId("validate-failed-step").count(), 0);
      assert.deepEqual(
        await report.locator("li").evaluateAll((lis) => lis.map((li) => `${li.getAttribute("data-step")}:${li.getAttribute("data-ok")}`)),
        ["upload:true", "download:true", "delete:true"],
      );
      assert.deepEqual((validateBodies[1] as { credentials?: unknown }).credentials, { key: s3.accessKey, secretKey: s3.secret });

      // Save.
      await form.getByTestId("save-storage").click();
      const saved = await toast(page);
      assert.equal(saved.title, "Destination saved");
      assert.deepEqual(saved.details, [`s3://${s3.bucket}/dash`, `secret saved for access key ${s3.accessKey}`]);

      // Reload: the secret field is empty, the page says a secret is stored, and the API never returns it.
      await page.reload();
      await ready(page, "template");
      await page.getByTestId("tab-storage").click();
      assert.equal(await form.getByTestId("storage-type").inputValue(), "custom");
      assert.equal(await form.getByTestId("storage-endpoint").inputValue(), s3.endpoint);
      assert.equal(await form.getByTestId("storage-bucket").inputValue(), s3.bucket);
      assert.equal(await form.getByTestId("storage-key").inputValue(), s3.accessKey);
      assert.equal(await form.getByTestId("storage-secret").inputValue(), "");
      assert.equal(
        await form.getByTestId("secret-state").textContent(),
        `A secret is saved for access key ${s3.accessKey}. Leave the secret empty to keep it.`,
      );
      const tpl = (await app.api<Template>("GET", `/v2/templates/${id}`)).body;
      assert.deepEqual(tpl.settings.recording?.upload, {
        type: "s3",
        location: s3.bucket,
        prefix: "dash",
        options: { region: "us-east-1", endpoint: s3.endpoint },
        credentials: { key: s3.accessKey },
      });
      assert.deepEqual((await app.api<TemplateSettings>("GET", `/v2/templates/${id}/settings`)).body.recording?.upload?.credentials, {
        key: s3.accessKey,
      });

      // Validate with the stored secret: the page sends {template_id}.
      const stored = await validate();
      assert.equal(stored.valid, true);
      assert.deepEqual(validateBodies.at(-1), { template_id: id });
      assert.equal(await report.getByTestId("validate-message").textContent(), "Recording upload config validated successfully");

      // Saving another prefix without typing the secret keeps it.
      await form.getByTestId("storage-prefix").fill("dash2");
      await form.getByTestId("save-storage").click();
      assert.deepEqual((await toast(page)).details, [`s3://${s3.bucket}/dash2`, `secret kept for access key ${s3.accessKey}`]);
      const after = (await app.api<TemplateSettings>("GET", `/v2/templates/${id}/settings`)).body.recording?.upload;
      assert.equal(after?.prefix, "dash2");
      assert.deepEqual(after?.credentials, { key: s3.accessKey });
      assert.equal(
        (await app.api<StorageValidation>("POST", "/v2/storage/validate", { template_id: id })).body.valid,
        true,
        "the stored secret still works",
      );
    },
  );
});

test("on a phone-sized screen every tab of a template fits without sideways scrolling", async () => {
  const id = await newTemplate(`dash-phone-${Date.now()}`);
  await app.api<TemplateDestinations>("POST", `/v2/templates/${id}/destinations`, {
    hlsDestinations: { hls: { layers: [{ width: 1280, height: 720, videoBitrate: 2500, audioBitrate: 128 }] } },
  });
  const d = await dash({ viewport: { width: 390, height: 844 } });
  await withDashboardArtifacts(
    "templates-phone",
    () => [d],
    async () => {
      const { page } = d;
      await go(page, "#/templates", "templates");
      await assertFitsWidth(page, "the list");
      await go(page, `#/templates/${id}`, "template");
      for (const tab of ["roles", "recording", "storage"]) {
        await page.getByTestId(`tab-${tab}`).click();
        await page.getByTestId(`${tab}-panel`).waitFor();
        await assertFitsWidth(page, `the ${tab} tab`);
      }
    },
  );
});
