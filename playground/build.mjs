// Bundles the playground into dist/: app-<hash>.js, app-<hash>.css and index.html that names them.
// Run by scripts/ensure-playground.sh (npm ci + this, cached by a hash of the lock file and sources).
import { build } from "esbuild";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.join(here, "dist");

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });
const result = await build({
  entryPoints: { app: path.join(here, "src/main.js") },
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2022"],
  entryNames: "[name]-[hash]",
  outdir,
  metafile: true,
  legalComments: "linked",
  logLevel: "warning",
});

// The hashed names go into index.html, so the assets can be cached for ever and the page never.
const names = {};
for (const file of Object.keys(result.metafile.outputs)) {
  const base = path.basename(file);
  const ext = path.extname(base);
  if (ext === ".js" || ext === ".css") names[`app${ext}`] = base;
}
if (!names["app.js"] || !names["app.css"]) throw new Error(`esbuild wrote no app.js/app.css: ${JSON.stringify(names)}`);
let html = await readFile(path.join(here, "src/index.html"), "utf8");
html = html.replaceAll("{{app.js}}", names["app.js"]).replaceAll("{{app.css}}", names["app.css"]);
await writeFile(path.join(outdir, "index.html"), html);
console.log(`playground built: ${Object.values(names).join(", ")}`);
