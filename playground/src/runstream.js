// A run's live events over its WebSocket. A dropped socket is reopened with ?after=<last seq>,
// and events already seen are ignored, so nothing is lost or shown twice.

const MAX_RECONNECTS = 8;

// Pure: the events to deliver, given the last seq seen (unit-tested).
export function freshEvents(lastSeq, events) {
  const out = [];
  let seq = lastSeq;
  for (const e of events) {
    if (typeof e.seq === "number") {
      if (e.seq <= seq) continue;
      seq = e.seq;
    }
    out.push(e);
  }
  return { events: out, lastSeq: seq };
}

export function backoffMs(attempt) {
  return Math.min(4000, 250 * 2 ** attempt);
}

export class RunStream {
  // api: Api; onEvent(event) for each new event; onEnd({result} or {error}) once.
  constructor(api, runId, { onEvent, onEnd, WebSocketImpl = globalThis.WebSocket }) {
    this.api = api;
    this.runId = runId;
    this.onEvent = onEvent;
    this.onEnd = onEnd;
    this.WebSocketImpl = WebSocketImpl;
    this.lastSeq = 0;
    this.attempt = 0;
    this.ended = false;
    this.ws = null;
    this.pending = [];  // client messages sent while reconnecting
    this.connect();
  }

  connect() {
    const ws = new this.WebSocketImpl(this.api.wsUrl(this.runId, this.lastSeq));
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      for (const m of this.pending.splice(0)) ws.send(m);
    };
    ws.onmessage = (m) => {
      let event;
      try {
        event = JSON.parse(m.data);
      } catch {
        return;
      }
      const fresh = freshEvents(this.lastSeq, [event]);
      this.lastSeq = fresh.lastSeq;
      for (const e of fresh.events) {
        this.onEvent(e);
        if (e.type === "result") this.finish({ result: e.result });
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws || this.ended) return;
      this.reconnect();
    };
  }

  reconnect() {
    if (this.attempt >= MAX_RECONNECTS) {
      // The socket keeps failing: fall back to the run's stored result.
      this.api.getRun(this.runId).then(
        (run) => (run.finished_at ? this.finish({ result: run }) : this.finish({ error: "lost the connection to the run" })),
        (e) => this.finish({ error: e.text || String(e) }));
      return;
    }
    const delay = backoffMs(this.attempt++);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  // Sent now, or as soon as the socket is (re)open.
  send(message) {
    if (!this.sendNow(message)) this.pending.push(JSON.stringify(message));
  }

  // Sent now if the socket is open; false otherwise (nothing queued).
  sendNow(message) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  // For tests and for "the network blinked": drop the socket; it reopens with ?after=.
  drop() {
    if (this.ws) this.ws.close();
  }

  finish(outcome) {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    if (this.ws && this.ws.readyState <= 1) this.ws.close(1000);
    this.onEnd(outcome);
  }

  close() {
    this.ended = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
  }
}
