// The template page's Destinations (storage) tab: the upload destination, Validate Config, the write-only secret.

import { busy, el, fill, problem, showWarning } from "../ui.js";
import { confirmButton, field } from "./template-form.js";

const STORAGE_TYPES = [
  ["s3", "Amazon S3"],
  ["gs", "Google Cloud Storage (HMAC key)"],
  ["oss", "Alibaba Cloud OSS"],
  ["custom", "Custom S3 endpoint (MinIO, R2, Ceph…)"],
];
const REGION_HINT = { s3: "default us-east-1", gs: "optional (auto)", oss: "required, e.g. cn-hangzhou", custom: "optional" };

export function storageSection(section, state, { api, showOk }, id) {
  const savedUpload = () => state.t.settings?.recording?.upload ?? null;
  const formType = (u) => (u ? (u.type === "s3" && u.options?.endpoint ? "custom" : u.type) : "s3");

  function render() {
    const saved = savedUpload();
    const type = el(
      "select",
      { "data-testid": "storage-type" },
      ...STORAGE_TYPES.map(([v, label]) => el("option", { value: v, selected: v === formType(saved) }, label)),
    );
    const endpoint = el("input", {
      type: "url",
      "data-testid": "storage-endpoint",
      value: saved?.options?.endpoint ?? "",
      placeholder: "https://minio.example.com",
      autocomplete: "off",
    });
    const key = el("input", {
      "data-testid": "storage-key",
      value: saved?.credentials?.key ?? "",
      autocomplete: "off",
      spellcheck: "false",
    });
    const secret = el("input", {
      type: "password",
      "data-testid": "storage-secret",
      value: "",
      autocomplete: "new-password",
      placeholder: saved?.credentials ? "saved: type only to replace it" : "",
    });
    const bucket = el("input", {
      "data-testid": "storage-bucket",
      value: saved?.location ?? "",
      placeholder: "my-recordings",
      autocomplete: "off",
      spellcheck: "false",
    });
    const region = el("input", { "data-testid": "storage-region", value: saved?.options?.region ?? "", autocomplete: "off" });
    const prefix = el("input", {
      "data-testid": "storage-prefix",
      value: saved?.prefix ?? "",
      placeholder: "recordings",
      autocomplete: "off",
    });
    const endpointField = field("Endpoint URL", endpoint);
    const regionField = field("Region", region, REGION_HINT[type.value]);
    const syncType = () => {
      endpointField.hidden = type.value !== "custom";
      regionField.querySelector(".tpl-hint").textContent = ` (${REGION_HINT[type.value]})`;
    };
    type.addEventListener("change", syncType);
    syncType();

    const secretState = el(
      "p",
      { class: "tpl-secret-state", "data-testid": "secret-state" },
      !saved
        ? "No destination saved: recordings go to tapedeck's internal bucket."
        : saved.credentials
          ? `A secret is saved for access key ${saved.credentials.key}. Leave the secret empty to keep it.`
          : "No secret is saved for this destination.",
    );
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
      if (key.value.trim())
        d.credentials = withSecret && secret.value ? { key: key.value.trim(), secretKey: secret.value } : { key: key.value.trim() };
      return d;
    };
    /** Whether the stored secret still belongs to what the form says (the API keeps it only then). */
    const sameAsSaved = (d) =>
      Boolean(saved?.credentials) && saved.type === d.type && saved.location === d.location && saved.credentials.key === d.credentials?.key;
    const unchanged = (d) =>
      sameAsSaved(d) &&
      (saved.prefix ?? "") === d.prefix.replace(/^\/+|\/+$/g, "") &&
      (saved.options?.region ?? "") === (d.options.region ?? "") &&
      (saved.options?.endpoint ?? "") === (d.options.endpoint ?? "");

    // A destination Validate just found not working is saved only when asked twice ("Save anyway").
    const withoutSecret = (d) => JSON.stringify({ ...d, credentials: d.credentials ? { key: d.credentials.key } : null });
    /** The form's destination (without its secret) that failed Validate, and why; null once one passed. */
    let failed = null;
    let saveAnyway = null;

    const report = el("div", { class: "tpl-report", "data-testid": "validate-report", hidden: true });
    const progress = el(
      "p",
      { class: "progress", "data-testid": "validate-progress", hidden: true },
      "Validating: uploading a probe object, reading it back, deleting it…",
    );
    const validate = el("button", { type: "button", "data-testid": "validate-storage" }, "Validate Config");
    const save = el("button", { type: "submit", class: "primary", "data-testid": "save-storage" }, "Save destination");
    const remove = saved
      ? confirmButton({
          label: "Use the internal bucket",
          question: "Forget this destination and its secret?",
          testid: "storage-remove",
          busyText: "Saving…",
          action: async () => {
            const settings = await api("POST", `/v2/templates/${id}/settings`, { recording: { upload: null } });
            state.t.settings = settings;
            showOk("Destination removed", ["recordings go to tapedeck's internal bucket"]);
            render();
          },
        })
      : null;

    validate.addEventListener(
      "click",
      () =>
        void busy(validate, "Validating…", async () => {
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
            const r = await api("POST", "/v2/storage/validate", body);
            showReport(report, r, body.template_id ? "the saved destination" : "the form's destination");
            const step = (r.checks ?? []).find((c) => !c.ok);
            failed = r.valid ? null : { sig: withoutSecret(d), why: step ? `${step.step}: ${step.message}` : r.message };
          } finally {
            progress.hidden = true;
          }
        }),
    );

    const form = el(
      "form",
      { novalidate: true, class: "panel", "data-testid": "storage-form", autocomplete: "off" },
      el("h2", {}, "Where recordings are uploaded"),
      el(
        "p",
        { class: "muted" },
        "Rooms of this template upload recordings, HLS and their files here (a room's own upload_info wins). Recording needs upload and download permission; delete is not needed.",
      ),
      el("div", { class: "row" }, field("Storage", type), endpointField),
      el("div", { class: "row" }, field("Access key", key), field("Secret key", secret, "write-only")),
      secretState,
      el("div", { class: "row" }, field("Bucket", bucket), regionField, field("Prefix", prefix, "empty: your customer id")),
      el("div", { class: "row tpl-actions" }, validate, save, remove),
      progress,
      report,
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void busy(save, "Saving…", async () => {
        const d = destination(true);
        if (!secret.value && d.credentials) {
          if (saved?.credentials && !sameAsSaved(d)) {
            throw problem("Type the secret", [
              `the saved secret belongs to access key ${saved.credentials.key} in bucket ${saved.location}; it is kept only while the type, bucket and access key stay the same`,
            ]);
          }
          if (!saved?.credentials) throw problem(`Type the secret for access key ${d.credentials.key}`);
        }
        const unvalidated = failed?.sig === withoutSecret(d) ? failed : null;
        if (unvalidated && saveAnyway !== unvalidated.sig) {
          saveAnyway = unvalidated.sig;
          setTimeout(() => (save.textContent = "Save anyway")); // after busy() puts the label back
          throw problem("This destination just failed Validate Config", [
            unvalidated.why,
            "recordings would fail to upload there: fix the form and validate again, or press Save anyway to keep it as it is",
          ]);
        }
        const settings = await api("POST", `/v2/templates/${id}/settings`, { recording: { upload: d } });
        state.t.settings = settings;
        const stored = settings.recording?.upload;
        const details = [
          `${stored.type}://${stored.location}/${stored.prefix || state.t.customer_id}`,
          stored.credentials ? `secret ${secret.value ? "saved" : "kept"} for access key ${stored.credentials.key}` : "no secret saved",
        ];
        if (unvalidated) showWarning("Destination saved, though it failed Validate Config", [unvalidated.why, ...details]);
        else showOk("Destination saved", details);
        render();
      });
    });
    section.replaceChildren(form);
  }

  function showReport(report, r, what) {
    const failed = (r.checks ?? []).find((c) => !c.ok);
    report.className = `tpl-report ${r.valid ? "ok" : "bad"}`;
    report.dataset.valid = String(r.valid);
    fill(
      report,
      el("p", { class: "tpl-report-title" }, r.valid ? `✓ Valid: ${what}` : `✗ Not valid: ${what}`),
      el("p", { "data-testid": "validate-message" }, r.message),
      failed ? el("p", { "data-testid": "validate-failed-step" }, `Failed step: ${failed.step}`) : null,
      el(
        "ul",
        { class: "report", "data-testid": "validate-checks" },
        ...(r.checks ?? []).map((c) =>
          el(
            "li",
            { class: c.ok ? "ok" : "bad", "data-step": c.step, "data-ok": String(c.ok) },
            `${c.ok ? "✓" : "✗"} ${c.step}: ${c.message}`,
          ),
        ),
      ),
    );
    report.hidden = false;
  }

  return { render };
}
