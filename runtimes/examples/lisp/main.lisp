(let ((name (or (read-line *standard-input* nil) "")))
  (format t "Hello, ~a!~%" (string-trim '(#\Space #\Return) name)))
(let ((args (rest sb-ext:*posix-argv*)))
  (when args
    (dolist (arg args) (format t "arg: ~a~%" arg))
    (format t "Grüße, 世界 ✓~%")
    (finish-output)
    (sb-ext:exit :code 3)))
