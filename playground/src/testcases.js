// The test-cases list (the contract's "Test cases"): inputs with expected outputs, and each
// test's verdict as it arrives.

const FIELDS = ["stdin", "expected_stdout"];

export class TestCases {
  constructor(list, summary) {
    this.list = list;
    this.summary = summary;
  }

  add(test = {}) {
    const item = document.createElement("li");
    item.className = "test";
    item.innerHTML = `
      <label><span data-n></span> input <textarea rows="2" spellcheck="false" data-field="stdin"></textarea></label>
      <label><span data-n></span> expected output <textarea rows="2" spellcheck="false" data-field="expected_stdout"></textarea></label>
      <div class="row"><button type="button" class="small" data-remove>Remove <span data-n></span></button>
      <output class="verdict" aria-live="polite"></output></div>
      <pre class="got" tabindex="0" hidden></pre>`;
    for (const f of FIELDS) item.querySelector(`[data-field="${f}"]`).value = typeof test[f] === "string" ? test[f] : "";
    item.querySelector("[data-remove]").addEventListener("click", () => {
      item.remove();
      this.number();
    });
    this.list.append(item);
    this.number();
  }

  get count() {
    return this.list.children.length;
  }

  // Labels say "Test N" in list order, so they stay right after a removal.
  number() {
    [...this.list.children].forEach((item, i) => {
      for (const span of item.querySelectorAll("[data-n]")) span.textContent = `Test ${i + 1}`;
      item.querySelector(".verdict").setAttribute("aria-label", `Test ${i + 1} verdict`);
    });
  }

  tests() {
    return [...this.list.children].map((item) =>
      Object.fromEntries(FIELDS.map((f) => [f, item.querySelector(`[data-field="${f}"]`).value])));
  }

  clear(text) {
    this.summary.textContent = "";
    for (const item of this.list.children) {
      const out = item.querySelector(".verdict");
      out.textContent = text;
      delete out.dataset.verdict;
      item.querySelector(".got").hidden = true;
    }
  }

  // One test's end: a `test` event, or an entry of the result's `tests`.
  verdict(index, t) {
    const item = this.list.children[index];
    if (!item) return;
    const out = item.querySelector(".verdict");
    out.textContent = t.verdict.replaceAll("_", " ");
    out.dataset.verdict = t.verdict;
    // What the program printed, when it was not what was expected.
    const got = item.querySelector(".got");
    const printed = [t.stdout, t.stderr].filter(Boolean).join("");
    got.hidden = t.verdict === "accepted" || !printed;
    got.textContent = printed ? `got: ${printed.slice(0, 2000)}` : "";
  }

  result(result) {
    for (const t of result.tests || []) this.verdict(t.index, t);
    const s = result.summary;
    if (s) this.summary.textContent = `${s.passed} of ${s.total} passed: ${s.verdict.replaceAll("_", " ")}`;
  }
}
