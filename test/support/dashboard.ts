import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { ARTIFACTS_DIR, launchBrowser } from "./browser.ts";
import type { TestApp } from "./app.ts";
import type { HookWindow } from "./page-hooks.ts";

// The dashboard in a real headless Chromium, for the dashboard-*.test.ts files: a signed-in page,
// waiting for a view to be rendered, reading the toast, and screenshots + console kept on failure.

export interface DashboardPage {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  logs: string[];
  close(): Promise<void>;
}

export async function openDashboard(
  app: TestApp,
  opts: { signIn?: boolean; viewport?: { width: number; height: number } } = {},
): Promise<DashboardPage> {
  const browser = await launchBrowser();
  const context = await browser.newContext({
    viewport: opts.viewport ?? { width: 1280, height: 800 },
    permissions: ["clipboard-read", "clipboard-write"],
  });
  const page = await context.newPage();
  const logs: string[] = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(`${app.url}/dashboard`);
  await ready(page);
  if (opts.signIn !== false) {
    const { identity } = app.ctx;
    await page.getByTestId("access-key").fill(identity.accessKey);
    await page.getByTestId("secret").fill(identity.appSecret);
    await page.getByTestId("sign-in").click();
    await ready(page, "rooms");
  }
  return { browser, context, page, logs, close: () => browser.close() };
}

/** Dashboards for one test file's app, all closed by `closeAll` in its `after`. */
export function dashboardPool(app: () => TestApp) {
  const open: DashboardPage[] = [];
  return {
    async open(o: Parameters<typeof openDashboard>[1] = {}): Promise<DashboardPage> {
      const d = await openDashboard(app(), o);
      open.push(d);
      return d;
    },
    closeAll: () => Promise.all(open.map((d) => d.close())),
  };
}

/** Waits until the current view has rendered (optionally: this route), and checks it shows no junk. */
export async function ready(page: Page, route?: string, timeoutMs = 15_000): Promise<void> {
  await page.waitForFunction(
    (r) => (window as HookWindow).tapedeckDashboard?.ready === true && (!r || (window as HookWindow).tapedeckDashboard?.route === r),
    route,
    { timeout: timeoutMs, polling: 50 },
  );
  await assertNoJunk(page, route ?? "the view");
}

/**
 * Fails when the page shows a programmer's value instead of words: `null`, `undefined`, `NaN` or
 * `[object Object]` in any text a person reads (JSON shown as code, in pre, code and textarea, is not text).
 */
export async function assertNoJunk(page: Page, what: string): Promise<void> {
  const junk = await page.evaluate(() => {
    const found: string[] = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const parent = n.parentElement;
      if (!parent || parent.closest("pre, code, textarea, script, style, template, [hidden]")) continue;
      const text = n.textContent ?? "";
      if (/\bnull\b|\bundefined\b|\bNaN\b|\[object Object\]/.test(text))
        found.push(`${parent.tagName.toLowerCase()}: ${text.trim().slice(0, 80)}`);
    }
    return found;
  });
  assert.deepEqual(junk, [], `${what} shows programmer's values instead of words`);
}

/** Goes to a #/ route and waits for it. */
export async function go(page: Page, hash: string, route: string): Promise<void> {
  await page.evaluate((h) => {
    location.hash = h;
  }, hash);
  await ready(page, route);
}

/** Asserts the page needs no sideways scrolling at its viewport's width (a phone's, in these tests). */
export async function assertFitsWidth(page: Page, what = "the page"): Promise<void> {
  const { scroll, viewport } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, viewport: window.innerWidth }));
  assert.ok(scroll <= viewport, `${what} needs sideways scrolling: ${scroll} px wide on a ${viewport} px screen`);
}

/** The toast's title and details once it shows. */
export async function toast(page: Page, timeoutMs = 15_000): Promise<{ title: string; details: string[]; ok: boolean }> {
  const t = page.getByTestId("toast");
  await t.waitFor({ state: "visible", timeout: timeoutMs });
  const out = {
    title: (await page.getByTestId("toast-title").textContent()) ?? "",
    details: await page.getByTestId("toast-details").locator("li").allTextContents(),
    ok: (await t.getAttribute("class"))?.includes("ok") ?? false,
  };
  await page.getByTestId("toast-close").click();
  return out;
}

/** Runs `fn`; on failure keeps a screenshot and the console of `pages` in test-artifacts/. */
export async function withDashboardArtifacts<T>(name: string, pages: () => DashboardPage[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
    const base = path.join(ARTIFACTS_DIR, `dashboard-${name.replace(/[^a-z0-9]+/gi, "-").toLowerCase()}`);
    for (const [i, p] of pages().entries()) {
      await p.page.screenshot({ path: `${base}-${i}.png`, fullPage: true, timeout: 5_000 }).catch(() => {});
      fs.writeFileSync(`${base}-${i}.log`, `${p.logs.join("\n")}\n`);
    }
    throw err;
  }
}
