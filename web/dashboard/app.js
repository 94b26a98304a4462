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
window.tapedeckDashboard = { route: null, ready: false };

menu.addEventListener("click", () => {
  const open = nav.classList.toggle("collapsed") === false;
  menu.setAttribute("aria-expanded", String(open));
});
document.querySelector('[data-testid="sign-out"]').addEventListener("click", () => {
  clearToken();
  location.hash = "#/sign-in";
  route();
});

function signIn() {
  nav.hidden = true;
  const key = el("input", { id: "access-key", autocomplete: "username", "data-testid": "access-key" });
  const secret = el("input", { id: "secret", type: "password", autocomplete: "current-password", "data-testid": "secret" });
  const token = el("textarea", { id: "token", "data-testid": "token", placeholder: "eyJhbGciOi…" });
  const status = el("p", { class: "muted", "data-testid": "sign-in-status" });
  const submit = el("button", { type: "submit", class: "primary", "data-testid": "sign-in" }, "Sign in");
  const form = el("form", { class: "panel signin" },
    el("h1", {}, "Sign in to tapedeck"),
    el("p", { class: "muted" }, "With the app's access key and secret (printed when tapedeck first started; also in <data dir>/identity.json), or with a management token."),
    el("label", { for: "access-key" }, "Access key"), key,
    el("label", { for: "secret" }, "App secret"), secret,
    el("label", { for: "token" }, "…or a management token"), token,
    el("div", { class: "row signin-actions" }, submit), status);
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
      location.hash = "#/rooms";
      route();
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

async function route() {
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
    location.hash = "#/rooms";
    return;
  }
  const { r, m } = match;
  for (const a of nav.querySelectorAll("a[data-nav]")) {
    if (a.dataset.nav === r.nav) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  window.tapedeckDashboard.route = r.page;
  view.replaceChildren(el("p", { class: "progress" }, "Loading…"));
  try {
    const mod = await import(PAGE_MODULES[r.page]);
    const stops = [];
    cleanup = () => stops.forEach((f) => f());
    await mod.render(view, { page: r.page, params: m.slice(1), api, onLeave: (f) => stops.push(f), navigate: (h) => { location.hash = h; }, refresh: route, showError, showOk });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      clearToken();
      showError(new ApiError(401, "Your session has ended", ["sign in again"]));
      return route();
    }
    view.replaceChildren(el("div", { class: "panel" }, el("h1", {}, "This page could not be shown"), el("p", { "data-testid": "page-error" }, err.message)));
    showError(err);
  }
  window.tapedeckDashboard.ready = true;
}

window.addEventListener("hashchange", route);
route();
