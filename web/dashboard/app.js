// The dashboard's shell: sign-in, the management token (sessionStorage: gone when the tab closes),
// a hash router (#/rooms, #/templates/<id>, #/sessions/<id>, …), the API client and the error toast.
// Each view is a module in ./pages/ exporting `render(view, ctx)`; `ctx` carries the API client,
// the route's parameters and the shared helpers in ./ui.js.

import { api, ApiError, clearToken, hasToken, setToken } from "./api.js";
import { el, showError, showOk } from "./ui.js";

const ROUTES = [
  { pattern: /^#\/rooms$/, page: "rooms", nav: "rooms" },
  { pattern: /^#\/templates$/, page: "templates", nav: "templates" },
  { pattern: /^#\/templates\/([0-9a-f]{24})$/, page: "template", nav: "templates" },
  { pattern: /^#\/sessions$/, page: "sessions", nav: "sessions" },
  { pattern: /^#\/sessions\/([0-9a-f]{24})$/, page: "session", nav: "sessions" },
  { pattern: /^#\/recordings$/, page: "recordings", nav: "recordings" },
  { pattern: /^#\/webhooks$/, page: "webhooks", nav: "webhooks" },
];
const PAGE_MODULES = {
  rooms: "./pages/rooms.js",
  templates: "./pages/templates.js",
  template: "./pages/templates.js",
  sessions: "./pages/sessions.js",
  session: "./pages/sessions.js",
  recordings: "./pages/recordings.js",
  webhooks: "./pages/webhooks.js",
};

const view = document.querySelector('[data-testid="view"]');
const nav = document.querySelector('[data-testid="nav"]');
const menu = document.querySelector('[data-testid="menu-button"]');
/** Called when the view changes: a page's timers (live status polling) stop with it. */
let cleanup = () => {};
/** Counts route() calls: a page that finishes rendering after a newer route began is thrown away. */
let generation = 0;
/** The hash whose page is on screen. */
let shownHash = "";

/** Shows `hash`: through hashchange when it changes, directly when it is already there. */
function goTo(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}
/** For tests and the curious: the view shown, whether it has rendered, how many late renders were dropped. */
window.tapedeckDashboard = { route: null, ready: false, dropped: 0 };

menu.addEventListener("click", () => {
  const open = nav.classList.toggle("collapsed") === false;
  menu.setAttribute("aria-expanded", String(open));
});
document.querySelector('[data-testid="sign-out"]').addEventListener("click", () => {
  clearToken();
  goTo("#/sign-in");
});

function signIn() {
  nav.hidden = true;
  const key = el("input", { id: "access-key", autocomplete: "username", "data-testid": "access-key" });
  const secret = el("input", { id: "secret", type: "password", autocomplete: "current-password", "data-testid": "secret" });
  const token = el("textarea", { id: "token", "data-testid": "token", placeholder: "eyJhbGciOi…" });
  const status = el("p", { class: "muted", "data-testid": "sign-in-status" });
  const submit = el("button", { type: "submit", class: "primary", "data-testid": "sign-in" }, "Sign in");
  const form = el(
    "form",
    { class: "panel signin" },
    el("h1", {}, "Sign in to tapedeck"),
    el(
      "p",
      { class: "muted" },
      "With the app's access key and secret (printed when tapedeck first started; also in <data dir>/identity.json), or with a management token.",
    ),
    el("label", { for: "access-key" }, "Access key"),
    key,
    el("label", { for: "secret" }, "App secret"),
    secret,
    el("label", { for: "token" }, "…or a management token"),
    token,
    el("div", { class: "row signin-actions" }, submit),
    status,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    status.textContent = "Signing in…";
    try {
      if (token.value.trim()) {
        setToken(token.value.trim());
        await api("GET", "/v2/rooms?limit=1"); // proves the token before going on
      } else {
        const res = await api("POST", "/dashboard/sign-in", { access_key: key.value.trim(), secret: secret.value }, { anonymous: true });
        setToken(res.token);
      }
      status.textContent = "";
      goTo("#/rooms");
    } catch (err) {
      clearToken();
      status.textContent = "";
      showError(err);
    } finally {
      submit.disabled = false;
    }
  });
  view.replaceChildren(form);
  key.focus();
}

/** A render that finished after a newer route began: its page is never shown, its timers stopped. */
function drop(leave) {
  leave();
  window.tapedeckDashboard.dropped++;
}

async function route() {
  const mine = ++generation;
  cleanup();
  cleanup = () => {};
  window.tapedeckDashboard.ready = false;
  if (!hasToken()) {
    window.tapedeckDashboard.route = "sign-in";
    signIn();
    window.tapedeckDashboard.ready = true;
    return;
  }
  nav.hidden = false;
  if (window.matchMedia("(max-width: 640px)").matches) nav.classList.add("collapsed");
  const hash = location.hash || "#/rooms";
  const match = ROUTES.map((r) => ({ r, m: r.pattern.exec(hash) })).find((x) => x.m);
  if (!match) {
    goTo("#/rooms");
    return;
  }
  const { r, m } = match;
  for (const a of nav.querySelectorAll("a[data-nav]")) {
    if (a.dataset.nav === r.nav) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  // A refresh of the same view keeps it on screen until the new one is ready.
  if (window.tapedeckDashboard.route !== r.page || location.hash !== shownHash)
    view.replaceChildren(el("p", { class: "progress" }, "Loading…"));
  window.tapedeckDashboard.route = r.page;
  // The page renders into its own element, shown only if no newer route has begun meanwhile.
  const page = el("div", { class: "page" });
  const stops = [];
  const leave = () => stops.splice(0).forEach((f) => f());
  cleanup = leave;
  try {
    const mod = await import(PAGE_MODULES[r.page]);
    await mod.render(page, {
      page: r.page,
      params: m.slice(1),
      api,
      onLeave: (f) => stops.push(f),
      navigate: (h) => {
        location.hash = h;
      },
      refresh: route,
      showError,
      showOk,
    });
    if (mine !== generation) return drop(leave);
    view.replaceChildren(page);
    shownHash = location.hash;
  } catch (err) {
    if (mine !== generation) return drop(leave);
    if (err instanceof ApiError && err.status === 401) {
      clearToken();
      showError(new ApiError(401, "Your session has ended", ["sign in again"]));
      return route();
    }
    view.replaceChildren(
      el("div", { class: "panel" }, el("h1", {}, "This page could not be shown"), el("p", { "data-testid": "page-error" }, err.message)),
    );
    showError(err);
  }
  window.tapedeckDashboard.ready = true;
}

window.addEventListener("hashchange", route);
route();
