// Builds db-migrate's knex runtime component:
//   node build.mjs --node-modules DIR --wit WIT_DIR --out knex-runtime.wasm [--bundle-only]
// DIR holds knex@3, esbuild, events, path-browserify and @bytecodealliance/componentize-js
// (tests/run.sh installs them into target/guest-tools/knex-runtime).
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";
import fs from "node:fs";
import { spawnSync } from "node:child_process";

const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : fallback;
};
const nodeModules = path.resolve(opt("--node-modules", path.join(here, "node_modules")));
const wit = path.resolve(opt("--wit", path.join(here, "..", "..", "wit")));
const out = path.resolve(opt("--out", "knex-runtime.wasm"));
const bundleOnly = argv.includes("--bundle-only");
const require = createRequire(path.join(nodeModules, "noop.js"));
const esbuild = require("esbuild");

const shim = (f) => path.join(here, "shims", f);
// Node built-ins knex requires: small shims, or nothing where knex never uses them in a migration.
const builtins = {
  events: require.resolve("events/"),
  path: require.resolve("path-browserify"),
  util: shim("util.js"),
  assert: shim("assert.js"),
  timers: shim("timers.js"),
  tty: shim("tty.js"),
  stream: shim("stream.js"),
};
const empty = shim("empty.js");
const nothing = new Set(["fs", "os", "url", "crypto", "child_process", "net", "tls", "http", "https", "zlib", "v8", "worker_threads"]);
// Database drivers (db-migrate is the driver) and dialects the runtime does not offer.
const drivers = /^(pg|pg-native|pg-query-stream|mysql|mysql2|sqlite3|better-sqlite3|tedious|oracledb|mariadb)$/;
const unusedDialects = /knex[\\/]lib[\\/]dialects[\\/](mssql|oracle|oracledb|pgnative|redshift|cockroachdb|mariadb)[\\/]index\.js$/;
const unusedParts = /knex[\\/]lib[\\/](migrations[\\/]migrate[\\/]Migrator|migrations[\\/]seed[\\/]Seeder|bin[\\/]cli)\.js$/;

const stubs = {
  name: "db-migrate-knex-stubs",
  setup(b) {
    b.onResolve({ filter: /^db-migrate:/ }, (a) => ({ path: a.path, external: true }));
    b.onResolve({ filter: /^[^./]/ }, (a) => {
      const name = a.path.replace(/^node:/, "").replace(/\/$/, "");
      if (a.path.endsWith("/") && builtins[name]) return undefined; // `events/`: the npm package itself
      if (builtins[name]) return { path: builtins[name] };
      if (nothing.has(name)) return { path: empty };
      if (drivers.test(name.split("/")[0])) return { path: empty };
      return undefined;
    });
    b.onLoad({ filter: unusedDialects }, () => ({
      contents: "module.exports = function () { throw new Error('this knex dialect is not available inside db-migrate'); };",
      loader: "js",
    }));
    b.onLoad({ filter: unusedParts }, () => ({ contents: "module.exports = {};", loader: "js" }));
  },
};

const bundle = out.replace(/\.wasm$/, "") + ".bundle.js";
await esbuild.build({
  entryPoints: [path.join(here, "runtime.js")],
  bundle: true,
  format: "esm",
  platform: "neutral",
  mainFields: ["main", "module"],
  target: "es2022",
  nodePaths: [nodeModules],
  inject: [shim("globals.js")],
  plugins: [stubs],
  outfile: bundle,
  logLevel: "warning",
  legalComments: "none",
});
console.log(`bundled ${bundle} (${Math.round(fs.statSync(bundle).size / 1024)} KB)`);
if (bundleOnly) process.exit(0);

const cjs = path.join(nodeModules, ".bin", "componentize-js");
const tool = fs.existsSync(cjs) ? cjs : "componentize-js";
const tmp = out + ".partial";
const r = spawnSync(tool, [bundle, "--wit", wit, "--world-name", "migration", "--disable", "http", "fetch-event", "-o", tmp], { stdio: "inherit" });
if (r.status !== 0 || !fs.existsSync(tmp)) {
  console.error(`componentize-js failed (${r.error ? r.error.message : `exit ${r.status}`})`);
  process.exit(1);
}
fs.renameSync(tmp, out);
console.log(`built ${out} (${(fs.statSync(out).size / 1e6).toFixed(1)} MB)`);
