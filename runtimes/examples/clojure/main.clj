(require (quote [clojure.string]))
(let [name (or (read-line) "")]
  (println (str "Hello, " (clojure.string/trim name) "!")))
(when (seq *command-line-args*)
  (doseq [arg *command-line-args*] (println (str "arg: " arg)))
  (println "Grüße, 世界 ✓")
  (flush)
  (System/exit 3))
