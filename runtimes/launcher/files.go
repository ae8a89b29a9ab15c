package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// validateName accepts a relative slash-separated path that stays inside the scratch dir.
func validateName(name string) error {
	bad := func(why string) error { return fmt.Errorf("bad file name %q: %s", name, why) }
	switch {
	case name == "":
		return bad("empty")
	case strings.HasPrefix(name, "/"):
		return bad("absolute path")
	case strings.ContainsRune(name, 0):
		return bad("contains NUL")
	case strings.ContainsRune(name, '\\'):
		return bad("contains a backslash")
	}
	for _, seg := range strings.Split(name, "/") {
		switch seg {
		case "":
			return bad("empty path segment")
		case ".", "..":
			return bad("'.' or '..' segment")
		}
	}
	return nil
}

// writeFiles creates dir and writes every file under it; a name given twice is an error.
func writeFiles(dir string, files []scratchFile) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("scratch dir: %v", err)
	}
	for _, f := range files {
		if err := validateName(f.Name); err != nil {
			return err
		}
		path := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("file %q: %v", f.Name, err)
		}
		// O_EXCL|O_NOFOLLOW: never follow or overwrite anything already there.
		fd, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
		if err != nil {
			if errors.Is(err, os.ErrExist) {
				return fmt.Errorf("file %q: given twice or clashes with a directory", f.Name)
			}
			return fmt.Errorf("file %q: %v", f.Name, err)
		}
		_, werr := fd.Write(f.Content)
		cerr := fd.Close()
		if werr != nil || cerr != nil {
			return fmt.Errorf("file %q: %v", f.Name, errors.Join(werr, cerr))
		}
	}
	return nil
}
