// Unit tests of the page's pure functions: `node --test playground/tests/` (run from pytest).
import assert from "node:assert/strict";
import { test } from "node:test";
import { describeError, offersTests } from "../src/api.js";
import { backoffMs, freshEvents } from "../src/runstream.js";
import { resultSummary, statusLine } from "../src/present.js";
import { exampleFor } from "../src/examples.js";

const body = (code, message, details = []) => ({ error: { code, message, details } });

test("a wrong key is said plainly, with what to do", () => {
  const e = describeError(401, body("unauthorized", "missing or unknown API key"));
  assert.match(e.text, /API key was not accepted/);
  assert.match(e.text, /throwbox keys create/);
});

test("quota and rate limits say how long to wait", () => {
  assert.match(describeError(429, body("quota_exceeded", "x"), 1).text, /as many runs going.*Try again in 1 s/);
  assert.match(describeError(429, body("rate_limited", "x"), 7).text, /this minute.*Try again in 7 s/);
});

test("too large, unknown runtime, overloaded and bad requests name the problem", () => {
  assert.match(describeError(413, body("payload_too_large", "stdin is larger than 10 bytes")).text,
    /Too large: stdin is larger than 10 bytes.*smaller/);
  assert.match(describeError(422, body("unknown_runtime", "no such language: cobol")).text, /not installed.*Pick one/);
  assert.match(describeError(503, body("overloaded", "queue too deep"), 2).text, /busy.*Try again in 2 s/);
  const bad = describeError(400, body("invalid_request", "bad file name", [{ field: "files[0].name", problem: "has .." }]));
  assert.match(bad.text, /files\[0\]\.name: has \.\./);
  assert.equal(describeError(400, null).status, 400);
  const said = describeError(400, body("invalid_request", "tests: unknown field", [{ field: "tests", problem: "unknown field" }]));
  assert.equal(said.message, "The server refused the request: tests: unknown field.");
});

test("events already seen are dropped after a reconnect, new ones kept in order", () => {
  const got = freshEvents(2, [{ seq: 1 }, { seq: 2 }, { seq: 3, type: "stdout" }, { seq: 4 }, { type: "error" }]);
  assert.deepEqual(got.events.map((e) => e.seq ?? e.type), [3, 4, "error"]);
  assert.equal(got.lastSeq, 4);
  assert.deepEqual(freshEvents(4, [{ seq: 4 }]).events, []);
});

test("reconnect waits grow and are capped", () => {
  assert.deepEqual([0, 1, 2, 3, 4, 10].map(backoffMs), [250, 500, 1000, 2000, 4000, 4000]);
});

test("test cases are offered only when the run request schema has tests", () => {
  const doc = (props) => ({
    paths: { "/v1/runs": { post: { requestBody: { content: { "application/json": { schema: { $ref: "#/components/schemas/RunRequest" } } } } } } },
    components: { schemas: { RunRequest: { properties: props } } },
  });
  assert.equal(offersTests(doc({ files: {} })), false);
  assert.equal(offersTests(doc({ files: {}, tests: { type: "array" } })), true);
  assert.equal(offersTests({}), false);
});

test("a result reads as outcome, exit code, time and memory", () => {
  const r = { status: "completed", outcome: "nonzero_exit", exit_code: 3, usage: { wall_ms: 41, memory_peak_bytes: 9437184 } };
  assert.equal(statusLine(r), "Finished: nonzero exit.");
  assert.equal(resultSummary(r), "nonzero exit · exit code 3 · 41 ms · 9.0 MB peak memory");
  assert.equal(statusLine({ status: "cancelled" }), "Finished: cancelled.");
  assert.equal(statusLine({ status: "failed", error: { code: "queue_timeout", message: "no agent" } }), "Failed: no agent.");
});

test("every deployed language has an example that names its entry file", () => {
  for (const [lang, file] of [["python", "main.py"], ["javascript", "main.js"], ["c", "main.c"], ["cpp", "main.cpp"],
    ["go", "main.go"], ["java", "Main.java"], ["rust", "main.rs"], ["ruby", "main.rb"], ["bash", "main.sh"],
    ["typescript", "main.ts"], ["kotlin", "main.kt"], ["cobol", "main.cob"], ["csharp", "main.cs"], ["haskell", "main.hs"]]) {
    const ex = exampleFor(lang);
    assert.equal(ex.name, file);
    assert.match(ex.content, /Nice to meet you/);
  }
  assert.equal(exampleFor("intercal").name, "main.txt");
});

test("file names follow the API's rules", async () => {
  const { validFileName } = await import("../src/filetabs.js");
  for (const ok of ["main.py", "src/util.c", "a-b_c.txt", ".env"]) assert.equal(validFileName(ok), true, ok);
  for (const bad of ["", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a\\b", "x".repeat(256)]) {
    assert.equal(validFileName(bad), false, bad);
  }
});
