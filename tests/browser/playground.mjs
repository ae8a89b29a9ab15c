// Browser scenarios of the playground, driven by playwright-core through Debian's chromium.
// Run by tests/integration/test_playground_browser.py; on its own:
//   PLAYGROUND_URL=http://127.0.0.1:8080/ API_KEY=tbx_… node tests/browser/playground.mjs [scenario…]
// Prints one JSON line per scenario ({"scenario", "ok", "error", "screenshot"}); exit 1 if any failed.
// Waits only on what a user sees (locators by role and label); no sleeps.
import { createRequire } from "node:module";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const require = createRequire(path.join(repo, "playground/package.json"));
const { chromium } = require("playwright-core");
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const URL_ = process.env.PLAYGROUND_URL || "http://127.0.0.1:8080/";
const API_KEY = process.env.API_KEY || "";          // the key the page is pre-filled with
const QUOTA_KEY = process.env.QUOTA_KEY || "";      // a key with max_concurrent=1
const STDIN_CAP_BYTES = Number(process.env.STDIN_CAP_BYTES || 32768);   // the server's THROWBOX_CP_MAX_STDIN_BYTES
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ARTIFACTS = process.env.ARTIFACTS_DIR || path.join(repo, ".state/artifacts/playground");
const STEP_MS = Number(process.env.STEP_TIMEOUT_MS || 45000);   // a run on a busy 2-core machine
mkdirSync(ARTIFACTS, { recursive: true });

class Failure extends Error {}
function check(condition, message) {
  if (!condition) throw new Failure(message);
}

// ---- what a user sees

const output = (page) => page.getByRole("log", { name: "Program output" });
const runStatus = (page) => page.getByRole("status", { name: "Run status" });

async function sees(locator, text, timeout = STEP_MS) {
  await locator.filter({ hasText: text }).waitFor({ timeout });
}

async function ready(page) {
  await page.goto(URL_);
  // The language picker fills from GET /v1/runtimes once the (pre-filled) key is accepted.
  await page.getByLabel("Language").locator("option[value=python]").waitFor({ state: "attached", timeout: STEP_MS });
  await page.getByRole("button", { name: "Run", exact: true }).and(page.locator(":enabled")).waitFor({ timeout: STEP_MS });
}

async function typeProgram(page, text) {
  const editor = page.getByRole("textbox", { name: /^Code editor/ });
  await editor.click();
  await page.keyboard.press("ControlOrMeta+A");
  await page.keyboard.press("Delete");
  await page.keyboard.insertText(text);
}

async function editorText(page) {
  // The lines CodeMirror renders (all of them for a program this short).
  return page.getByRole("textbox", { name: /^Code editor/ })
    .evaluate((el) => [...el.querySelectorAll(".cm-line")].map((l) => l.textContent).join("\n"));
}

async function axe(page) {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(() => globalThis.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(bad.length === 0, "axe: " + bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`).join("; "));
  return result.violations.length;
}

// ---- scenarios

const scenarios = {
  async interactive_python_shows_output_before_input_then_the_rest(page) {
    const sockets = [];
    page.on("websocket", (ws) => sockets.push(new URL(ws.url())));
    await ready(page);
    await typeProgram(page, 'print("first line", flush=True)\nname = input()\nprint("second line:", name)\n');
    await page.keyboard.press("ControlOrMeta+Enter");   // the shortcut, from inside the editor
    await sees(output(page), "first line");
    check(!(await output(page).textContent()).includes("second line"), "the rest came before any input");
    await sees(runStatus(page), "Running");
    // The socket drops mid-run: it must reconnect with ?after=<last seq> and lose or repeat nothing.
    await page.evaluate(() => globalThis.__playground.stream.drop());
    const input = page.getByRole("textbox", { name: "Input", exact: true });
    await input.fill("Ada");
    await input.press("Enter");
    await sees(output(page), "second line: Ada");
    await sees(runStatus(page), "Finished: ok");
    const text = await output(page).textContent();
    check(text.split("first line").length === 2, `"first line" shown more than once after the reconnect: ${JSON.stringify(text)}`);
    const resumed = sockets.slice(1).map((u) => Number(u.searchParams.get("after")));
    check(sockets.length >= 2 && resumed.every((n) => n > 0), `no reconnect with ?after=: ${sockets.join(" ")}`);
    await sees(page.locator("#summary"), "exit code 0");
  },

  async endless_loop_is_stopped_by_stop_and_ends_cancelled(page) {
    await ready(page);
    await typeProgram(page, 'print("spinning", flush=True)\nwhile True:\n    pass\n');
    await page.getByRole("button", { name: "Run", exact: true }).click();
    await sees(output(page), "spinning");
    await page.getByRole("button", { name: "Stop" }).click();
    await sees(runStatus(page), "Finished: cancelled", 20000);
    await sees(page.locator("#summary"), "cancelled");
  },

  async c_compile_error_is_shown_with_its_message(page) {
    await ready(page);
    await page.getByLabel("Language").selectOption("c");
    await page.getByRole("tab", { name: "main.c" }).waitFor();
    await typeProgram(page, "int main(void) {\n    return undeclared_thing;\n}\n");
    await page.getByRole("button", { name: "Run", exact: true }).click();
    await sees(runStatus(page), "compile error");
    const compiler = page.getByRole("region", { name: "Compiler output" });
    await sees(compiler, "undeclared_thing");
  },

  async reloaded_draft_and_shared_link_restore_the_program(page, context, browser) {
    await ready(page);
    await typeProgram(page, "import helper\nprint('answer', helper.X, input())\n");
    await page.getByRole("button", { name: "Add file" }).click();
    const name = page.getByRole("textbox", { name: "File name" });
    await name.fill("helper.py");
    await name.press("Enter");
    await page.getByRole("tab", { name: "helper.py", selected: true }).waitFor();
    // The tabs work from the keyboard: arrows move between them.
    await page.getByRole("tab", { name: "helper.py" }).press("ArrowLeft");
    await page.getByRole("tab", { name: "main.py", selected: true }).waitFor();
    check(await page.getByRole("tab", { name: "main.py" }).evaluate((el) => el === document.activeElement), "focus did not follow the tab");
    await page.keyboard.press("ArrowRight");
    await page.getByRole("tab", { name: "helper.py", selected: true }).waitFor();
    await typeProgram(page, "X = 42\n");
    await page.getByLabel("Stdin given at start").fill("from the link");
    await page.reload();   // the draft survives a reload
    await page.getByRole("tab", { name: "helper.py" }).waitFor({ timeout: STEP_MS });
    check((await page.getByLabel("Stdin given at start").inputValue()) === "from the link", "stdin lost on reload");
    await page.getByRole("button", { name: "Run", exact: true }).and(page.locator(":enabled")).waitFor();
    await page.getByRole("button", { name: "Share" }).click();
    const link = await page.getByRole("textbox", { name: "Shareable link" }).inputValue();
    check(link.includes("#code="), `no program in the link: ${link}`);

    // Another person (a fresh browser context: no draft, no stored key) opens the link.
    const other = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
    await other.goto(link);
    await other.getByRole("tab", { name: "helper.py" }).waitFor({ timeout: STEP_MS });
    check((await other.getByLabel("Stdin given at start").inputValue()) === "from the link", "stdin not restored");
    check((await editorText(other)).includes("import helper"), "main.py not restored");
    await other.getByRole("button", { name: "Run", exact: true }).and(other.locator(":enabled")).waitFor();
    await other.getByRole("button", { name: "Run", exact: true }).click();
    await sees(output(other), "answer 42 from the link");
    await other.getByRole("tab", { name: "helper.py" }).click();
    check((await editorText(other)) === "X = 42\n", `helper.py not restored: ${JSON.stringify(await editorText(other))}`);
    return other;   // its screenshot is the one kept
  },

  async phone_viewport_in_dark_mode_runs_the_example_and_passes_axe(page) {
    await ready(page);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    check(width <= 390, `the page scrolls sideways at phone width (${width}px)`);
    await page.getByRole("button", { name: "Load example" }).click();
    await page.getByLabel("Stdin given at start").fill("Phone");
    await page.getByRole("button", { name: "Run", exact: true }).click();
    await sees(output(page), "Nice to meet you, Phone!");
    await sees(runStatus(page), "Finished: ok");
    const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    check(dark === "rgb(13, 17, 23)", `not the dark scheme: body background ${dark}`);
    await axe(page);
  },

  async desktop_page_passes_axe_after_a_run(page) {
    await ready(page);
    await page.getByLabel("Stdin given at start").fill("Axe");
    await page.getByRole("button", { name: "Run", exact: true }).click();
    await sees(runStatus(page), "Finished: ok");
    await axe(page);
  },

  async wrong_key_is_refused_in_plain_words(page) {
    await ready(page);
    await page.getByLabel("API key").fill("tbx_not_a_real_key");
    await page.getByRole("button", { name: "Save key" }).click();
    await sees(page.getByRole("alert"), "This API key was not accepted");
  },

  async a_run_over_the_keys_concurrency_and_too_much_stdin_are_refused_in_words(page, context) {
    check(QUOTA_KEY, "QUOTA_KEY (a key with max_concurrent=1) is not set");
    await ready(page);
    const key = page.getByLabel("API key");
    await key.fill(QUOTA_KEY);
    await page.getByRole("button", { name: "Save key" }).click();
    await sees(page.getByRole("status").filter({ hasText: "Key saved in this browser" }), "Key saved");
    await typeProgram(page, "input()\n");   // waits for a line: holds the key's only slot
    await page.getByRole("button", { name: "Run", exact: true }).click();
    await sees(runStatus(page), "Running");

    const second = await context.newPage();   // same browser storage: the same key
    await ready(second);
    await second.getByRole("button", { name: "Run", exact: true }).click();
    await sees(second.getByRole("alert"), "Your key already has as many runs going as it may");
    await sees(runStatus(second), "Not started");

    // End its input (on a slow machine it may already have hit its 10 s wall limit instead).
    await page.getByRole("button", { name: "EOF" }).click({ timeout: 2000 }).catch(() => {});
    await sees(runStatus(page), "Finished");
    await second.getByLabel("Stdin given at start").fill("x".repeat(STDIN_CAP_BYTES + 1));
    await second.getByRole("button", { name: "Run", exact: true }).click();
    await sees(second.getByRole("alert"), "Too large");
    return second;
  },

  async program_saved_as_a_function_is_invoked_with_json_input(page) {
    await ready(page);
    await page.getByRole("button", { name: "Load example" }).click();
    const fn = `pg-${Date.now().toString(36)}`;
    await page.getByLabel("Function name").fill(fn);
    await page.getByRole("button", { name: "Save as function" }).click();
    await sees(page.locator("#fn-status"), `Saved function ${fn} (revision 1)`);
    await page.getByLabel("JSON input").fill('{"name": "json"}');
    await page.getByRole("button", { name: "Invoke" }).click();
    await sees(output(page), 'Nice to meet you, {"name": "json"}!');
    await sees(runStatus(page), "Finished: ok");
    await page.evaluate(async ([name, key]) => {
      await fetch(`/v1/functions/${name}`, { method: "DELETE", headers: { Authorization: `Bearer ${key}` } });
    }, [fn, API_KEY]);
  },

  async test_cases_run_together_and_each_verdict_is_shown(page) {
    await ready(page);
    const panel = page.getByRole("region", { name: "Test cases" });
    const offered = await page.evaluate(async () => {
      const doc = await (await fetch("/v1/openapi.json")).json();
      return Boolean(doc.components.schemas.RunRequest.properties.tests);
    });
    check(offered, "the server's run request has no tests");
    await typeProgram(page, "a, b = map(int, input().split())\nprint(a + b)\n");
    const cases = [["1 2", "3"], ["2 2", "5"], ["20 22", "42"]];
    for (const [i, [input, expected]] of cases.entries()) {
      if ((await panel.getByRole("listitem").count()) <= i) await panel.getByRole("button", { name: "Add test" }).click();
      await panel.getByLabel(`Test ${i + 1} input`).fill(input);
      await panel.getByLabel(`Test ${i + 1} expected output`).fill(expected);
    }
    await panel.getByRole("button", { name: "Run tests" }).click();
    await sees(panel.getByRole("status"), "2 of 3 passed: wrong answer");
    await sees(panel.getByLabel("Test 1 verdict"), "accepted");
    await sees(panel.getByLabel("Test 2 verdict"), "wrong answer");
    await sees(panel.getByLabel("Test 3 verdict"), "accepted");
    await sees(panel, "got: 4");
  },
};

const VIEWPORTS = {
  phone_viewport_in_dark_mode_runs_the_example_and_passes_axe: { viewport: { width: 390, height: 844 }, colorScheme: "dark", isMobile: true, hasTouch: true },
};

const wanted = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
let failed = 0;
try {
  for (const [name, scenario] of Object.entries(scenarios)) {
    if (wanted.length && !wanted.includes(name)) continue;
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: "light",
      ...VIEWPORTS[name] });
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const started = Date.now();
    let ok = true;
    let error = null;
    let shown = page;
    try {
      shown = (await scenario(page, context, browser)) || page;
      check(errors.length === 0, `errors in the page: ${errors.join("; ")}`);
    } catch (e) {
      ok = false;
      error = e instanceof Failure ? e.message : String(e.stack || e);
      failed++;
    }
    const screenshot = path.join(ARTIFACTS, `${name}.png`);
    await shown.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
    console.log(JSON.stringify({ scenario: name, ok, error, screenshot, ms: Date.now() - started }));
    for (const c of browser.contexts()) await c.close();
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
