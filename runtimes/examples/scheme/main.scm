(use-modules (ice-9 rdelim))

(define name (let ((line (read-line))) (if (eof-object? line) "" line)))
(display (string-append "Hello, " name "!\n"))
(define args (cdr (command-line)))
(unless (null? args)
  (for-each (lambda (a) (display (string-append "arg: " a "\n"))) args)
  (display "Grüße, 世界 ✓\n")
  (exit 3))
