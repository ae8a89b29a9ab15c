// RunStream against a fake WebSocket: resume with ?after=, no event twice, input kept across a drop.
import assert from "node:assert/strict";
import { test } from "node:test";
import { RunStream } from "../src/runstream.js";

class FakeSocket {
  static opened = [];
  constructor(url) {
    this.url = new URL(url);
    this.readyState = 0;
    this.sent = [];
    FakeSocket.opened.push(this);
    queueMicrotask(() => { this.readyState = 1; this.onopen?.(); });
  }
  send(text) { this.sent.push(JSON.parse(text)); }
  close() {
    if (this.readyState === 3) return;
    this.readyState = 3;
    queueMicrotask(() => this.onclose?.({ code: 1006 }));
  }
  deliver(event) { this.onmessage({ data: JSON.stringify(event) }); }
}

const api = {
  wsUrl: (id, after) => `ws://x/v1/runs/${id}/ws?access_token=k${after ? `&after=${after}` : ""}`,
  getRun: async () => ({ finished_at: null }),
};
const tick = () => new Promise((r) => setTimeout(r, 0));

test("a dropped socket resumes after the last seq and nothing is delivered twice", async () => {
  FakeSocket.opened = [];
  const seen = [];
  let ended = null;
  const stream = new RunStream(api, "run_1", {
    onEvent: (e) => seen.push(e.seq), onEnd: (o) => { ended = o; }, WebSocketImpl: FakeSocket });
  await tick();
  const first = FakeSocket.opened[0];
  first.deliver({ type: "status", seq: 1, status: "running" });
  first.deliver({ type: "stdout", seq: 2, stage: "run", data: "a" });
  first.close();                                   // the network blinks
  stream.send({ type: "stdin", data: "x\n" });     // typed while reconnecting
  await new Promise((r) => setTimeout(r, 300));   // the first back-off is 250 ms
  const second = FakeSocket.opened[1];
  assert.equal(second.url.searchParams.get("after"), "2");
  assert.deepEqual(second.sent, [{ type: "stdin", data: "x\n" }]);
  second.deliver({ type: "stdout", seq: 2, stage: "run", data: "a" });   // a repeat is ignored
  second.deliver({ type: "stdout", seq: 3, stage: "run", data: "b" });
  second.deliver({ type: "result", seq: 4, result: { status: "completed" } });
  assert.deepEqual(seen, [1, 2, 3, 4]);
  assert.deepEqual(ended, { result: { status: "completed" } });
  await tick();
  assert.equal(FakeSocket.opened.length, 2, "no reconnect after the result");
});

test("sendNow reports a closed socket instead of queueing", async () => {
  FakeSocket.opened = [];
  const stream = new RunStream(api, "run_2", { onEvent: () => {}, onEnd: () => {}, WebSocketImpl: FakeSocket });
  assert.equal(stream.sendNow({ type: "cancel" }), false);
  await tick();
  assert.equal(stream.sendNow({ type: "cancel" }), true);
  assert.deepEqual(FakeSocket.opened[0].sent, [{ type: "cancel" }]);
  stream.close();
});
