// How a run result reads on the page (pure: unit-tested).

export function formatBytes(n) {
  if (typeof n !== "number") return "";
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MB`;
  if (n >= 1024) return `${Math.round(n / 1024)} KB`;
  return `${n} B`;
}

// One line for the status region: "Finished: ok", "Finished: cancelled", "Failed: queue_timeout …".
export function statusLine(result) {
  if (result.status === "completed") return `Finished: ${words(result.outcome)}.`;
  if (result.status === "cancelled") return "Finished: cancelled.";
  if (result.status === "failed") {
    const e = result.error || {};
    return `Failed: ${e.message || e.code || "the platform could not run the program"}.`;
  }
  return `Status: ${result.status}.`;
}

// Outcome, exit code, time and memory, e.g. "ok · exit code 0 · 41 ms · 9.0 MB peak memory".
export function resultSummary(result) {
  const parts = [];
  parts.push(result.status === "completed" ? words(result.outcome) : result.status);
  if (result.exit_code !== null && result.exit_code !== undefined) parts.push(`exit code ${result.exit_code}`);
  if (result.signal) parts.push(`signal ${result.signal}`);
  const usage = result.usage || {};
  if (typeof usage.wall_ms === "number") parts.push(`${usage.wall_ms} ms`);
  if (usage.memory_peak_bytes) parts.push(`${formatBytes(usage.memory_peak_bytes)} peak memory`);
  if (result.stdout_truncated || result.stderr_truncated) parts.push("output truncated");
  return parts.join(" · ");
}

function words(code) {
  return String(code || "").replaceAll("_", " ");
}
