package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Frame types of the launcher protocol (docs/architecture.md, "Sandbox launcher protocol").
const (
	frameHeader     = 'H' // agent → launcher: JSON header, first frame
	frameStdin      = 'I' // agent → launcher: stdin bytes for the run stage
	frameStdinEnd   = 'Z' // agent → launcher: stdin closed
	frameRunOut     = 'o'
	frameRunErr     = 'e'
	frameCompileOut = 'O'
	frameCompileErr = 'E'
	frameCompiled   = 'C'
	frameExited     = 'X'
	frameLaunchFail = 'L'
	// Test cases (a header with "tests": true; docs/architecture.md):
	frameTestStart = 'T' // agent → launcher: JSON testStart; its stdin follows as I… Z
	frameTestKill  = 'K' // agent → launcher: JSON {"index": N}: stop that test if it is running
	frameTestsDone = 'D' // agent → launcher: no more tests (the end of the stream counts as D)
	frameTestEnd   = 'Y' // launcher → agent: JSON testEnd, as each test ends
)

// maxFrameBytes bounds every payload in both directions.
const maxFrameBytes = 1 << 20

var errFrameTooLarge = errors.New("frame payload larger than 1 MiB")

// readFrame reads one frame: type (1 byte) + big-endian length (4 bytes) + payload.
// io.EOF means the stream ended cleanly between frames.
func readFrame(r io.Reader) (byte, []byte, error) {
	var head [5]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, fmt.Errorf("truncated frame header: %w", err)
		}
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(head[1:])
	if n > maxFrameBytes {
		return 0, nil, errFrameTooLarge
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, fmt.Errorf("truncated frame payload: %w", io.ErrUnexpectedEOF)
	}
	return head[0], payload, nil
}

// frameWriter serialises frames from several goroutines: each frame is one Write under a
// mutex, so frames never interleave.
type frameWriter struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

func (fw *frameWriter) write(kind byte, payload []byte) error {
	if len(payload) > maxFrameBytes {
		return errFrameTooLarge
	}
	buf := make([]byte, 5+len(payload))
	buf[0] = kind
	binary.BigEndian.PutUint32(buf[1:5], uint32(len(payload)))
	copy(buf[5:], payload)
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.err != nil {
		return fw.err
	}
	if _, err := fw.w.Write(buf); err != nil {
		fw.err = err
	}
	return fw.err
}

func (fw *frameWriter) writeJSON(kind byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return fw.write(kind, data)
}

// fileSpec is one scratch file of the header.
type fileSpec struct {
	Name       string `json:"name"`
	ContentB64 string `json:"content_b64"`
}

// header is the H frame. Limits are pointers so that a missing one is an error, not 0.
type header struct {
	Files      []fileSpec        `json:"files"`
	Compile    []string          `json:"compile"`
	Run        []string          `json:"run"`
	Env        map[string]string `json:"env"`
	CPUTimeS   *uint64           `json:"cpu_time_s"`
	NProc      *uint64           `json:"nproc"`
	NoFile     *uint64           `json:"nofile"`
	FSizeBytes *uint64           `json:"fsize_bytes"`
	// Tests: after the compile, the run command is started once per T frame (tests.go)
	// instead of once; "run" is then only checked, each T names its own command.
	Tests bool `json:"tests"`
}

// limits are the rlimits a stage's process gets.
type limits struct {
	CPUTimeS, NProc, NoFile, FSizeBytes uint64
}

// scratchFile is a validated, decoded file ready to be written.
type scratchFile struct {
	Name    string
	Content []byte
}

// job is a validated header.
type job struct {
	Files   []scratchFile
	Compile []string
	Run     []string
	Env     map[string]string
	Limits  limits
	Tests   bool
}

func parseHeader(payload []byte) (*job, error) {
	var h header
	if err := json.Unmarshal(payload, &h); err != nil {
		return nil, fmt.Errorf("bad header: %v", err)
	}
	if len(h.Run) == 0 || h.Run[0] == "" {
		return nil, errors.New("bad header: run must be a non-empty command")
	}
	if h.Compile != nil && (len(h.Compile) == 0 || h.Compile[0] == "") {
		return nil, errors.New("bad header: compile must be null or a non-empty command")
	}
	if err := checkArgs(append(append([]string{}, h.Compile...), h.Run...)); err != nil {
		return nil, fmt.Errorf("bad header: %v", err)
	}
	for k, v := range h.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			return nil, fmt.Errorf("bad header: invalid env name %q", k)
		}
	}
	for name, p := range map[string]*uint64{
		"cpu_time_s": h.CPUTimeS, "nproc": h.NProc, "nofile": h.NoFile, "fsize_bytes": h.FSizeBytes,
	} {
		if p == nil || *p == 0 {
			return nil, fmt.Errorf("bad header: %s must be a positive integer", name)
		}
	}
	j := &job{
		Compile: h.Compile, Run: h.Run, Env: h.Env, Tests: h.Tests,
		Limits: limits{CPUTimeS: *h.CPUTimeS, NProc: *h.NProc, NoFile: *h.NoFile, FSizeBytes: *h.FSizeBytes},
	}
	for _, f := range h.Files {
		if err := validateName(f.Name); err != nil {
			return nil, err
		}
		content, err := base64.StdEncoding.DecodeString(f.ContentB64)
		if err != nil {
			return nil, fmt.Errorf("bad file %q: content_b64: %v", f.Name, err)
		}
		j.Files = append(j.Files, scratchFile{Name: f.Name, Content: content})
	}
	return j, nil
}

func checkArgs(args []string) error {
	for _, arg := range args {
		if strings.ContainsRune(arg, 0) {
			return errors.New("command argument contains NUL")
		}
	}
	return nil
}
