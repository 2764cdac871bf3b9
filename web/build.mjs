// Builds the front end into api/assets/web, the folder the Go binary
// embeds: src/main.ts bundled and minified by esbuild into app.js, and
// static/ copied as is. With --check nothing is written; it fails when the
// committed files differ from what the sources build (make check runs it).
import * as esbuild from "esbuild";
import { readFileSync, readdirSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "api", "assets", "web");
const check = process.argv.includes("--check");

const result = await esbuild.build({
  entryPoints: [join(here, "src", "main.ts")],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2022"],
  charset: "utf8",
  legalComments: "none",
  write: false,
  outfile: join(out, "app.js"),
  logLevel: "warning",
});

// name -> content of every file the folder must hold.
const want = new Map();
for (const f of result.outputFiles) want.set("app.js", Buffer.from(f.contents));
for (const name of readdirSync(join(here, "static"))) {
  want.set(name, readFileSync(join(here, "static", name)));
}

if (check) {
  const stale = [];
  for (const [name, body] of want) {
    const p = join(out, name);
    if (!existsSync(p) || !readFileSync(p).equals(body)) stale.push(name);
  }
  const extra = existsSync(out) ? readdirSync(out).filter((n) => !want.has(n)) : [];
  if (stale.length || extra.length) {
    console.error(`api/assets/web is not what web/ builds (differs: ${stale.join(", ") || "none"}; ` +
      `not built: ${extra.join(", ") || "none"}): run make web-build and commit the result`);
    process.exit(1);
  }
  console.log("api/assets/web is up to date with web/");
} else {
  mkdirSync(out, { recursive: true });
  for (const [name, body] of want) writeFileSync(join(out, name), body);
  console.log(`built ${[...want.keys()].join(", ")} into api/assets/web`);
}
