import type { Page } from "playwright-core";

// Layout checks for a page at phone size: nothing sticks out of the viewport or out of its container
// (unless that container scrolls or clips on purpose), and no one-word label (a badge, a button, a
// status) is broken in the middle of its word.

export interface LayoutProblem {
  what: "outside the viewport" | "outside its container" | "word broken";
  element: string;
  text: string;
  detail: string;
}

/** Every layout problem on the page as it is now shown; [] when it is clean. */
export function layoutProblems(page: Page): Promise<LayoutProblem[]> {
  // A string, not a function: the test runner's compiler would add helpers the page does not have.
  return page.evaluate(FIND_PROBLEMS) as Promise<LayoutProblem[]>;
}

/** Runs in the page: returns LayoutProblem[]. */
const FIND_PROBLEMS = `(() => {
    const out = [];
    const vw = document.documentElement.clientWidth;
    const describe = (el) => {
      const id = el.getAttribute("data-testid");
      return \`\${el.tagName.toLowerCase()}\${id ? \`[data-testid=\${id}]\` : ""}\${el.className && typeof el.className === "string" ? \`.\${el.className.trim().split(/\\s+/).join(".")}\` : ""}\`;
    };
    const shown = (el) => {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) return null;
      const s = getComputedStyle(el);
      if (s.visibility === "hidden" || s.display === "none" || Number(s.opacity) === 0) return null;
      return r;
    };
    /** The nearest ancestor that scrolls or clips horizontally (its content may be wider on purpose). */
    const clipper = (el) => {
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        const o = getComputedStyle(p).overflowX;
        if (o !== "visible") return p;
      }
      return null;
    };
    for (const el of document.querySelectorAll("body *")) {
      if (["SCRIPT", "STYLE", "OPTION", "svg"].includes(el.tagName) || el.closest("svg")) continue;
      const r = shown(el);
      if (!r) continue;
      const text = (el.textContent ?? "").trim().slice(0, 60);
      const clip = clipper(el);
      if (!clip && (r.right > vw + 1 || r.left < -1))
        out.push({
          what: "outside the viewport",
          element: describe(el),
          text,
          detail: \`x \${Math.round(r.left)}–\${Math.round(r.right)} of \${vw}\`,
        });
      const parent = el.parentElement;
      if (parent && parent !== document.body && getComputedStyle(el).position !== "absolute" && getComputedStyle(el).position !== "fixed") {
        const pr = parent.getBoundingClientRect();
        if (getComputedStyle(parent).overflowX === "visible" && (r.right > pr.right + 1 || r.left < pr.left - 1))
          out.push({
            what: "outside its container",
            element: describe(el),
            text,
            detail: \`x \${Math.round(r.left)}–\${Math.round(r.right)}, container \${describe(parent)} x \${Math.round(pr.left)}–\${Math.round(pr.right)}\`,
          });
      }
    }
    // A word (not an id) on more than one line was broken inside it: badges, buttons, errors.
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const seen = new Set();
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      // Ids, URLs and code (.mono, code) may break anywhere: they are not words.
      if (!el || el.closest("script, style, option, pre, textarea, code, .mono, [hidden]") || !shown(el)) continue;
      for (const m of (n.textContent ?? "").matchAll(/(?<![A-Za-z0-9_])[A-Za-z][A-Za-z'’]{1,19}(?![A-Za-z0-9_])/g)) {
        const range = document.createRange();
        range.setStart(n, m.index);
        range.setEnd(n, m.index + m[0].length);
        const lines = new Set([...range.getClientRects()].filter((x) => x.width > 0).map((x) => Math.round(x.top)));
        const key = describe(el) + m[0];
        if (lines.size > 1 && !seen.has(key)) {
          seen.add(key);
          out.push({ what: "word broken", element: describe(el), text: m[0], detail: \`\${lines.size} lines in "\${(el.textContent ?? "").trim().slice(0, 60)}"\` });
        }
      }
    }
    return out;
})()`;
