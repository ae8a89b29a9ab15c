// The playground page: wires the editor, the file tabs, runs and their live output, the input
// line, test cases, functions and the shareable link. Only the public API is used.
import "./style.css";
import { Api, offersTests } from "./api.js";
import { Editor } from "./editor.js";
import { exampleFor, extensionFor } from "./examples.js";
import { RunStream } from "./runstream.js";
import { decodeState, encodeState } from "./share.js";
import { loadDraft, saveDraft } from "./draft.js";
import { FileTabs } from "./filetabs.js";
import { TestCases } from "./testcases.js";
import { resultSummary, statusLine } from "./present.js";

const KEY_STORAGE = "throwbox.apiKey";
const $ = (id) => document.getElementById(id);
const api = new Api("");

const page = {
  runtimes: [],
  wanted: { language: "python", version: "" },   // from a shared link or the last choice
  run: null,            // {id, stream, interactive, sawOutput, sawCompile, tests}
  testsOffered: false,
};

const editor = new Editor($("editor"), { onRun: () => run(), onChange: () => saveDraftSoon() });

let draftTimer = null;
function saveDraftNow() {
  clearTimeout(draftTimer);
  draftTimer = null;
  if (tabs.names.length === 0) return;
  saveDraft({ language: $("language").value || page.wanted.language, version: $("version").value,
    files: tabs.files(), stdin: $("stdin").value });
}
function saveDraftSoon() {
  clearTimeout(draftTimer);
  draftTimer = setTimeout(saveDraftNow, 400);
}
addEventListener("pagehide", () => { if (draftTimer !== null) saveDraftNow(); });

// ---- notices and status

function notice(text) {
  const el = $("notice");
  el.textContent = text || "";
  el.hidden = !text;
}

function setStatus(text) {
  $("run-status").textContent = text;
}

// ---- files and tabs

const tabs = new FileTabs($("tabs"), $("editor"), editor, () => {
  $("delete-file").disabled = tabs.names.length <= 1;
  saveDraftSoon();
});
let naming = null;   // "add" | "rename"

function askName(mode, initial) {
  naming = mode;
  $("name-form").hidden = false;
  const input = $("file-name");
  input.value = initial;
  input.focus();
  input.select();
}

$("name-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const name = $("file-name").value.trim();
  const problem = tabs.problem(name, naming === "rename");
  notice(problem);
  if (problem) return;
  if (naming === "add") tabs.add(name);
  else tabs.rename(name);
  $("name-form").hidden = true;
  editor.focus();
});
$("name-cancel").addEventListener("click", () => { $("name-form").hidden = true; });
$("add-file").addEventListener("click", () => askName("add", tabs.freeName(extensionFor(selectedLanguage()))));
$("rename-file").addEventListener("click", () => askName("rename", tabs.active));
$("delete-file").addEventListener("click", () => tabs.remove());

// ---- languages and versions

function selectedLanguage() {
  return $("language").value || page.wanted.language;
}

function renderLanguages() {
  const languages = [...new Set(page.runtimes.map((r) => r.language))].sort();
  const select = $("language");
  select.replaceChildren(...languages.map((l) => new Option(l, l)));
  select.value = languages.includes(page.wanted.language) ? page.wanted.language : languages[0] || "";
  select.disabled = languages.length === 0;
  renderVersions();
}

function renderVersions() {
  const language = $("language").value;
  const versions = page.runtimes.filter((r) => r.language === language).map((r) => r.version).reverse();
  const select = $("version");
  select.replaceChildren(...versions.map((v, i) => new Option(i === 0 ? `${v} (newest)` : v, v)));
  if (versions.includes(page.wanted.version)) select.value = page.wanted.version;
  select.disabled = versions.length === 0;
  $("run").disabled = versions.length === 0 || page.run !== null;
}

function isUntouchedExample() {
  const files = tabs.files();
  if (files.length !== 1) return files.every((f) => !f.content.trim());
  const ex = exampleFor(page.wanted.language);
  return !files[0].content.trim() || (files[0].name === ex.name && files[0].content === ex.content);
}

$("language").addEventListener("change", () => {
  const untouched = isUntouchedExample();
  page.wanted = { language: $("language").value, version: "" };
  renderVersions();
  if (untouched) loadExample();
  saveDraftSoon();
});
$("version").addEventListener("change", () => {
  page.wanted.version = $("version").value;
  saveDraftSoon();
});
$("stdin").addEventListener("input", () => saveDraftSoon());

function loadExample() {
  tabs.set([exampleFor(selectedLanguage())]);
}
$("example").addEventListener("click", loadExample);

// ---- the API key

async function useKey(key, how) {
  api.key = key;
  $("api-key").value = key;
  try {
    page.runtimes = await api.runtimes();
  } catch (e) {
    $("key-status").textContent = e.status === 401 ? e.text : "";
    notice(e.text);
    page.runtimes = [];
    renderLanguages();
    return false;
  }
  localStorage.setItem(KEY_STORAGE, key);
  $("key-status").textContent = how;
  notice("");
  renderLanguages();
  return true;
}

$("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const key = $("api-key").value.trim();
  if (!key) {
    $("key-status").textContent = "Enter an API key (the dev stack prints one when it starts).";
    return;
  }
  useKey(key, "Key saved in this browser.");
});

// ---- runs

function clearOutput() {
  $("output").replaceChildren();
  $("compile-output").replaceChildren();
  $("compile-box").hidden = true;
  $("summary").textContent = "";
}

function append(target, text, cls) {
  const last = target.lastElementChild;
  if (last && last.className === cls) {   // one span per stretch of the same stream
    last.append(text);
    target.scrollTop = target.scrollHeight;
    return;
  }
  const span = document.createElement("span");
  span.className = cls;
  span.textContent = text;
  target.append(span);
  target.scrollTop = target.scrollHeight;
}

function setRunning(running, interactive = false) {
  $("run").disabled = running || $("version").disabled;
  $("stop").disabled = !running;
  $("run-tests").disabled = running;
  for (const id of ["input-line", "send-input", "send-eof"]) $(id).disabled = !(running && interactive);
}

async function run() {
  if (page.run || $("run").disabled) return;
  const stdin = $("stdin").value;
  const request = { language: $("language").value, version: $("version").value, files: tabs.files() };
  if (stdin) request.stdin = stdin;
  else request.interactive = true;
  await start(() => api.submit(request), { interactive: !stdin });
}

// submit() answers {id}; then the run's events stream into the output pane.
async function start(submit, { interactive, tests = false }) {
  notice("");
  clearOutput();
  setStatus("Submitting…");
  page.run = { id: null, stream: null, interactive, sawOutput: false, sawCompile: false, tests };
  setRunning(true, false);
  let accepted;
  try {
    accepted = await submit();
  } catch (e) {
    page.run = null;
    setRunning(false);
    setStatus("Not started.");
    notice(e.text);
    return;
  }
  const current = page.run;
  current.id = accepted.id;
  setStatus(`Queued (${accepted.id}).`);
  current.stream = new RunStream(api, accepted.id, {
    onEvent: (event) => onEvent(current, event),
    onEnd: ({ result, error }) => {
      if (result) showResult(current, result);
      else setStatus(`Lost track of the run: ${error}`);
      if (page.run === current) page.run = null;
      setRunning(false);
    },
  });
  globalThis.__playground = { stream: current.stream };   // lets the browser test drop the socket
}

function onEvent(current, event) {
  switch (event.type) {
    case "status":
      if (event.status === "running") {
        setStatus("Running…");
        setRunning(true, current.interactive);
      }
      break;
    case "stdout":
    case "stderr":
      if (event.stage === "compile") {
        current.sawCompile = true;
        $("compile-box").hidden = false;
        append($("compile-output"), event.data, event.type);
      } else {
        current.sawOutput = true;
        if (current.tests) break;   // a test's output belongs to its verdict, not to the pane
        append($("output"), event.data, event.type);
      }
      break;
    case "test":
      testCases.verdict(event.index, event);
      break;
    case "error":
      notice(event.error?.message || "The server refused a message.");
      break;
    default:
      break;
  }
}

function showResult(current, result) {
  // A long-finished run's event log may be just its result: show the output from the result.
  if (!current.sawOutput && !current.tests) {
    if (result.stdout) append($("output"), result.stdout, "stdout");
    if (result.stderr) append($("output"), result.stderr, "stderr");
  }
  const compile = result.compile;
  if (compile && !current.sawCompile && (compile.stdout || compile.stderr)) {
    append($("compile-output"), compile.stdout || "", "stdout");
    append($("compile-output"), compile.stderr || "", "stderr");
  }
  if (compile && (compile.stdout || compile.stderr || compile.outcome !== "ok")) $("compile-box").hidden = false;
  setStatus(statusLine(result));
  $("summary").textContent = resultSummary(result);
  if (result.tests) testCases.result(result);
}

$("run").addEventListener("click", () => run());
$("stop").addEventListener("click", async () => {
  const current = page.run;
  if (!current || !current.id) return;
  setStatus("Stopping…");
  // On the socket when it is open; otherwise (reconnecting, not yet open) over HTTP.
  if (!current.stream || !current.stream.sendNow({ type: "cancel" })) {
    try {
      await api.cancel(current.id);
    } catch (e) {
      notice(e.text);
    }
  }
});

document.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !e.defaultPrevented) {
    e.preventDefault();
    run();
  }
});

// ---- the input line (interactive runs)

$("input-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const current = page.run;
  if (!current || !current.stream) return;
  const line = $("input-line").value + "\n";
  current.stream.send({ type: "stdin", data: line });
  append($("output"), line, "stdin");
  $("input-line").value = "";
});
function sendEof() {
  const current = page.run;
  if (!current || !current.stream) return;
  current.stream.send({ type: "stdin_eof" });
  append($("output"), "⏎ end of input\n", "stdin note");
  for (const id of ["input-line", "send-input", "send-eof"]) $(id).disabled = true;
}
$("send-eof").addEventListener("click", sendEof);
$("input-line").addEventListener("keydown", (e) => {
  if (e.key === "d" && e.ctrlKey) {
    e.preventDefault();
    sendEof();
  }
});

// ---- test cases (the contract's "Test cases"; shown once the server offers them)

const testCases = new TestCases($("tests-list"), $("tests-summary"));

$("add-test").addEventListener("click", () => testCases.add());
$("run-tests").addEventListener("click", async () => {
  const tests = testCases.tests();
  if (tests.length === 0 || page.run) return;
  testCases.clear("…");
  const request = { language: $("language").value, version: $("version").value, files: tabs.files(), tests,
    compare: $("tests-compare").value };
  if ($("tests-stop").checked) request.stop_on_first_failure = true;
  await start(() => api.submit(request), { interactive: false, tests: true });
  if (!page.run) testCases.clear("");   // not started: the notice says why
});

function showTestsPanel(offered) {
  page.testsOffered = offered;
  $("tests-waiting").hidden = offered;
  $("tests-body").hidden = !offered;
  $("run-tests").disabled = !offered;
  if (offered && testCases.count === 0) testCases.add();
}

// ---- functions

$("fn-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const name = $("fn-name").value.trim();
  const spec = { language: $("language").value, version: $("version").value, files: tabs.files(),
    description: "saved from the playground" };
  $("fn-status").textContent = "Saving…";
  try {
    const fn = await api.saveFunction(name, spec);
    $("fn-status").textContent = `Saved function ${fn.name} (revision ${fn.revision}). Invoke it with JSON input below.`;
  } catch (err) {
    $("fn-status").textContent = err.text;
  }
});

$("invoke-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const name = $("fn-name").value.trim();
  if (!name) {
    $("fn-status").textContent = "Name the function first (and save it).";
    return;
  }
  let input;
  try {
    input = JSON.parse($("fn-input").value);
  } catch (err) {
    $("fn-status").textContent = `The input is not JSON: ${err.message}`;
    return;
  }
  $("fn-status").textContent = `Invoked ${name}; its output is in the Output pane.`;
  start(() => api.invoke(name, input), { interactive: false });
});

// ---- the shareable link

async function shareState() {
  const state = { language: $("language").value || page.wanted.language, version: $("version").value || "",
    files: tabs.files(), stdin: $("stdin").value };
  if (page.testsOffered) state.tests = testCases.tests();
  return encodeState(state);
}

$("share").addEventListener("click", async () => {
  const fragment = await shareState();
  const url = `${location.origin}${location.pathname}#${fragment}`;
  history.replaceState(null, "", `#${fragment}`);
  $("share-box").hidden = false;
  $("share-link").value = url;
  $("share-link").select();
  try {
    await navigator.clipboard.writeText(url);
    $("share-status").textContent = "Link copied.";
  } catch {
    $("share-status").textContent = "Copy the link above.";
  }
});

// ---- start

async function init() {
  const shared = await decodeState(location.hash);
  const draft = loadDraft();
  if (shared) {
    page.wanted = { language: shared.language, version: shared.version };
    tabs.set(shared.files);
    $("stdin").value = shared.stdin;
    for (const t of shared.tests) testCases.add(t);
  } else if (draft) {
    page.wanted = { language: draft.language || page.wanted.language, version: draft.version || "" };
    tabs.set(draft.files);
    $("stdin").value = draft.stdin || "";
  } else {
    tabs.set([exampleFor(page.wanted.language)]);
  }
  api.openapi().then((doc) => showTestsPanel(offersTests(doc)), () => showTestsPanel(false));
  let key = localStorage.getItem(KEY_STORAGE) || "";
  let how = "Using the key saved in this browser.";
  if (!key) {
    const config = await api.config().catch(() => null);
    if (config && config.dev_key) {
      key = config.dev_key;
      how = "Using the dev stack's key.";
    }
  }
  if (key) {
    const ok = await useKey(key, how);
    if (!ok && how.startsWith("Using the key saved")) {
      $("key-status").textContent = "The key saved in this browser was not accepted. Enter another.";
    }
  } else {
    $("key-status").textContent = "Enter your API key to load the languages.";
    $("language").replaceChildren(new Option("enter an API key first", ""));
  }
}

init();
