name <- readLines(file("stdin"), n = 1)
if (length(name) == 0) name <- ""
cat("Hello, ", name, "!\n", sep = "")
args <- commandArgs(trailingOnly = TRUE)
if (length(args) > 0) {
  for (a in args) cat("arg: ", a, "\n", sep = "")
  cat("Grüße, 世界 ✓\n")
  quit(status = 3)
}
