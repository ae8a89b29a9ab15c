const name = require("fs").readFileSync(0, "utf8").split("\n")[0].trim();
console.log(`Hello, ${name}!`);
const args = process.argv.slice(2);
if (args.length > 0) {
  for (const arg of args) console.log(`arg: ${arg}`);
  console.log("Grüße, 世界 ✓");
  process.exitCode = 3;
}
