package main

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// stdinQueue holds the agent's stdin chunks until the run stage's forwarder takes them, so
// reading frames never blocks on a child that does not read its stdin (and chunks that
// arrive during compilation wait for the run stage).
type stdinQueue struct {
	mu       sync.Mutex
	cond     *sync.Cond
	chunks   [][]byte
	ended    bool // Z received (or the agent's stream ended)
	detached bool // the stage is over: drop whatever is left
}

func newStdinQueue() *stdinQueue {
	q := &stdinQueue{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *stdinQueue) push(b []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.ended && len(b) > 0 {
		q.chunks = append(q.chunks, b)
		q.cond.Broadcast()
	}
}

func (q *stdinQueue) end() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ended = true
	q.cond.Broadcast()
}

func (q *stdinQueue) detach() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.detached = true
	q.cond.Broadcast()
}

// next blocks for the next chunk; ok is false once stdin ended and is drained, or on detach.
func (q *stdinQueue) next() (chunk []byte, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.chunks) == 0 && !q.ended && !q.detached {
		q.cond.Wait()
	}
	if q.detached || len(q.chunks) == 0 {
		return nil, false
	}
	chunk = q.chunks[0]
	q.chunks = q.chunks[1:]
	return chunk, true
}

// readAgentFrames feeds I/Z frames into q until Z or the end of the agent's stream (which
// counts as Z). Other frame types after the header are protocol errors and ignored.
func readAgentFrames(in io.Reader, q *stdinQueue) {
	defer q.end()
	for {
		kind, payload, err := readFrame(in)
		if err != nil {
			if err != io.EOF {
				fmt.Fprintln(os.Stderr, "throwbox-launcher: reading frames:", err)
			}
			return
		}
		switch kind {
		case frameStdin:
			q.push(payload)
		case frameStdinEnd:
			return
		default:
			fmt.Fprintf(os.Stderr, "throwbox-launcher: ignoring frame %q after the header\n", kind)
		}
	}
}

// forwardStdin copies queued chunks into the child's stdin pipe, then closes it.
func forwardStdin(q *stdinQueue, w *os.File) {
	defer w.Close()
	for {
		chunk, ok := q.next()
		if !ok {
			return
		}
		if _, err := w.Write(chunk); err != nil {
			return // the child closed its stdin (EPIPE) or is gone
		}
	}
}
