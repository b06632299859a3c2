// Write db-migrate migrations and seeds in JavaScript.
//
//   import { Migration, execute, query, exportMigration } from "./db-migrate.js";
//
//   class AddSlugs extends Migration {
//     static description = "posts get a slug";
//     up() {
//       execute("ALTER TABLE posts ADD COLUMN slug TEXT");
//       for (const row of query("SELECT id, title FROM posts")) {
//         execute("UPDATE posts SET slug = ? WHERE id = ?", [slugify(row.title), row.id]);
//       }
//     }
//     down() { execute("ALTER TABLE posts DROP COLUMN slug"); }
//   }
//
//   export const { metadata, up, down } = exportMigration(AddSlugs);
//
// `db-migrate build` turns the folder into a component with componentize-js. Inside the sandbox
// the code reaches the database only through these functions, in the migration's transaction;
// a thrown error rolls everything back and its message is shown to the user.
//
// This file is written next to your app.js by `db-migrate build`; edits to it are overwritten.

import * as sql from "db-migrate:runtime/sql@0.1.0";
import * as wlog from "db-migrate:runtime/log@0.1.0";
import * as ctx from "db-migrate:runtime/context@0.1.0";

/** A failure the host reported. `kind` is `denied`, `invalid-input` or `database`. */
export class DbMigrateError extends Error {
  constructor(kind, message, detail = {}) {
    super(message);
    this.name = "DbMigrateError";
    this.kind = kind;
    /** For database errors: `unique-violation`, `foreign-key-violation`, … */
    this.errorKind = detail.kind;
    /** SQLSTATE or the driver's code, when known. */
    this.code = detail.code;
  }
  get isUniqueViolation() {
    return this.kind === "database" && this.errorKind === "unique-violation";
  }
}

function fail(e) {
  const p = e && e.payload !== undefined ? e.payload : e;
  if (p && p.tag === "database") {
    const d = p.val;
    throw new DbMigrateError("database", d.code ? `${d.message} (code ${d.code})` : d.message, { kind: d.kind, code: d.code });
  }
  if (p && (p.tag === "denied" || p.tag === "invalid-input")) {
    throw new DbMigrateError(p.tag, p.val);
  }
  throw e;
}

function call(f, ...args) {
  try {
    return f(...args);
  } catch (e) {
    fail(e);
  }
}

function toValue(v) {
  if (v === null || v === undefined) return { tag: "null" };
  if (typeof v === "boolean") return { tag: "boolean", val: v };
  if (typeof v === "bigint") return { tag: "int", val: v };
  if (typeof v === "number") return Number.isInteger(v) ? { tag: "int", val: BigInt(v) } : { tag: "float", val: v };
  if (typeof v === "string") return { tag: "text", val: v };
  if (v instanceof Uint8Array) return { tag: "blob", val: v };
  if (v instanceof Date) return { tag: "timestamp", val: v.toISOString() };
  if (typeof v === "object") return { tag: "json", val: JSON.stringify(v) };
  throw new TypeError(`cannot send a ${typeof v} to the database`);
}

function fromValue(v) {
  switch (v.tag) {
    case "null": return null;
    case "int": {
      const n = v.val;
      return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
    }
    case "json": return JSON.parse(v.val);
    default: return v.val;
  }
}

const params = (ps) => (ps || []).map(toValue);
const rowObject = (columns, row) => Object.fromEntries(columns.map((c, i) => [c, fromValue(row[i])]));

/** The connection's SQL: `sqlite`, `postgres` or `mysql`. */
export function dialect() {
  return call(sql.dialect);
}

/** Runs one statement; returns the rows it changed (placeholders `?`, or `$1` on PostgreSQL). */
export function execute(statement, ps) {
  return Number(call(sql.execute, statement, params(ps)));
}

/** Runs one statement; its rows as objects by column name. Use `cursor` for large results. */
export function query(statement, ps) {
  const rs = call(sql.query, statement, params(ps));
  return rs.rows.map((r) => rowObject(rs.columns, r));
}

/** One statement per row of parameters, in as few round trips as the database allows. */
export function executeBatch(statement, rows) {
  return Number(call(sql.executeBatch, statement, rows.map(params)));
}

/**
 * Rows streamed into one table through one plain `INSERT INTO t (a, b) VALUES (?, ?)`, without
 * waiting for the database at each `write` (one `COPY` on PostgreSQL, which the server works
 * through while the component makes the next rows). A row the database rejects is reported
 * late (by `finish`, or by any other call) and it ends the run (its transaction is rolled back):
 * use `executeBatch` to handle a rejected batch yourself. While it is open, any other call first
 * waits until its rows are taken.
 */
export class BulkInsert {
  constructor(statement) {
    this.bulk = call(sql.openBulkInsert, statement);
  }

  /** Hands rows (one value per placeholder, in order) to the database. */
  write(rows) {
    call(() => this.bulk.write(rows.map(params)));
  }

  /** Waits until the database has taken every row written; returns how many were written. */
  finish() {
    return Number(call(() => this.bulk.finish()));
  }
}

/** Iterates over a query's rows page by page. */
export function* cursor(statement, ps, pageSize = 1000) {
  const c = call(sql.openCursor, statement, params(ps));
  const columns = c.columns();
  for (;;) {
    const page = call(() => c.nextPage(pageSize));
    if (page === undefined || page === null) return;
    for (const r of page) yield rowObject(columns, r);
  }
}

/** The columns of a table: `{ name, dataType, nullable }`. */
export function columns(table) {
  return call(sql.columns, table);
}

/** Messages shown next to the migration's name. */
export const log = {
  trace: (m) => wlog.log("trace", String(m)),
  debug: (m) => wlog.log("debug", String(m)),
  info: (m) => wlog.log("info", String(m)),
  warn: (m) => wlog.log("warn", String(m)),
  error: (m) => wlog.log("error", String(m)),
};

/** Reports progress; db-migrate draws a bar on a terminal. */
export function progress(done, total) {
  wlog.progress(BigInt(done), total === undefined || total === null ? undefined : BigInt(total));
}

/** What the migration may know about its run. */
export const context = {
  environment: () => ctx.environment(),
  name: () => ctx.name(),
  version: () => Number(ctx.version()),
  args: () => Object.fromEntries(ctx.args()),
  arg: (key, fallback) => {
    const found = ctx.args().find(([k]) => k === key);
    return found ? found[1] : fallback;
  },
  /** A seed for deterministic pseudo-random data (a BigInt). */
  randomSeed: () => ctx.randomSeed(),
};

/** Base class of migrations: set `static description` (and `reversible` / `transactional`). */
export class Migration {
  static description = "";
  static reversible = true;
  static transactional = true;
  up() {
    throw new Error("up is not implemented");
  }
  down() {
    throw new Error("this migration has no down step");
  }
}

/** Base class of seeds: implement `run`. */
export class Seed {
  run() {
    throw new Error("run is not implemented");
  }
}

function guarded(f) {
  try {
    f();
  } catch (e) {
    // The message reaches the user; the transaction rolls back.
    throw `${e && e.name ? e.name : "Error"}: ${e && e.message !== undefined ? e.message : String(e)}`;
  }
}

/** The world's exports for a migration class: `export const { metadata, up, down } = exportMigration(M)`. */
export function exportMigration(M) {
  return {
    metadata: () => ({ description: M.description, reversible: M.reversible, transactional: M.transactional }),
    up: () => guarded(() => new M().up()),
    down: () => guarded(() => new M().down()),
  };
}

/** The world's export for a seed class: `export const { run } = exportSeed(S)`. */
export function exportSeed(S) {
  return { run: () => guarded(() => new S().run()) };
}
