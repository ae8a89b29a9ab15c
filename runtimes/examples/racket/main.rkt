#lang racket/base
(require racket/string)

(define line (read-line))
(printf "Hello, ~a!\n" (if (eof-object? line) "" (string-trim line)))
(define args (current-command-line-arguments))
(when (> (vector-length args) 0)
  (for ([arg args]) (printf "arg: ~a\n" arg))
  (displayln "Grüße, 世界 ✓")
  (exit 3))
