// db-migrate's knex runtime: the real `knex` package from npm, bundled into one WebAssembly
// component, running a knex project's migration files unmodified inside db-migrate's sandbox.
//
// The host hands this component the migration file to run (its name and text) through the
// `context` interface; every query knex sends goes through the WIT `sql` interface, on the
// migration's own transaction and under its grants. Nothing here opens a connection, a file or a
// socket: knex's drivers are replaced by a client per dialect whose `_query` calls the host.
//
// Built by `build.mjs` (esbuild, then componentize-js); see README.md next to this file.

import * as sql from "db-migrate:runtime/sql@0.1.0";
import * as ctx from "db-migrate:runtime/context@0.1.0";
import knexFactory from "knex/lib/index.js";
import BetterSqlite3Client from "knex/lib/dialects/better-sqlite3/index.js";
import PostgresClient from "knex/lib/dialects/postgres/index.js";
import Mysql2Client from "knex/lib/dialects/mysql2/index.js";
import { transform } from "sucrase";

/** The arguments the host sets for a knex migration (a user's `--arg` cannot replace them). */
const FILE_ARG = "db-migrate:knex-file";
const SOURCE_ARG = "db-migrate:knex-source";

/** A failure the host reported, with the database's own message. */
class HostError extends Error {
  constructor(payload) {
    const p = payload && payload.payload !== undefined ? payload.payload : payload;
    let message;
    let code;
    if (p && p.tag === "database") {
      message = p.val.message;
      code = p.val.code;
    } else if (p && (p.tag === "denied" || p.tag === "invalid-input")) {
      message = `${p.tag === "denied" ? "denied by db-migrate" : "invalid input"}: ${p.val}`;
    } else {
      message = String(p && p.message !== undefined ? p.message : p);
    }
    super(message);
    this.name = "HostError";
    this.code = code;
  }
}

function call(f, ...args) {
  try {
    return f(...args);
  } catch (e) {
    throw new HostError(e);
  }
}

function toValue(v) {
  if (v === null || v === undefined) return { tag: "null" };
  if (typeof v === "boolean") return { tag: "boolean", val: v };
  if (typeof v === "bigint") return { tag: "int", val: v };
  if (typeof v === "number") {
    return Number.isInteger(v) && Number.isSafeInteger(v) ? { tag: "int", val: BigInt(v) } : { tag: "float", val: v };
  }
  if (typeof v === "string") return { tag: "text", val: v };
  if (v instanceof Uint8Array) return { tag: "blob", val: v };
  if (v instanceof Date) return { tag: "timestamp", val: v.toISOString() };
  if (typeof v === "object") return { tag: "json", val: JSON.stringify(v) };
  throw new TypeError(`cannot send a ${typeof v} to the database`);
}

function fromValue(v) {
  switch (v.tag) {
    case "null":
      return null;
    case "int": {
      const n = v.val;
      return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
    }
    case "json":
      return JSON.parse(v.val);
    case "boolean":
      return v.val;
    default:
      return v.val;
  }
}

/** Runs a statement that returns rows: the rows as objects by column name, as drivers give them. */
function queryRows(statement, bindings) {
  const rs = call(sql.query, statement, (bindings || []).map(toValue));
  return rs.rows.map((r) => {
    const o = {};
    rs.columns.forEach((c, i) => {
      o[c] = fromValue(r[i]);
    });
    return o;
  });
}

/** Runs a statement that returns no rows: the number of rows it changed. */
function executeStatement(statement, bindings) {
  return Number(call(sql.execute, statement, (bindings || []).map(toValue)));
}

/** Whether a statement returns rows (what better-sqlite3 calls a "reader"). */
function returnsRows(statement) {
  const s = statement.replace(/^(\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)*/, "");
  if (/^(select|with|values|explain|show|describe|desc)\b/i.test(s)) return true;
  if (/^pragma\b/i.test(s)) return !/=/.test(s);
  return /\breturning\b/i.test(s);
}

/** The one connection knex ever holds: the migration's, lent by the host. */
const CONNECTION = { __knexUid: "db-migrate", __dbMigrate: true };

/** What every dialect's client shares: no driver, no pool, the migration's transaction. */
function sandboxed(Base) {
  return class extends Base {
    constructor(config) {
      super(config);
      // Every knex transaction inside a migration is a savepoint of the migration's own
      // transaction (as under `knex migrate`, which runs each migration in one).
      this.transacting = true;
    }
    _driver() {
      return {};
    }
    initializeDriver() {
      this.driver = {};
    }
    initializePool() {}
    async acquireConnection() {
      return CONNECTION;
    }
    async releaseConnection() {}
    async acquireRawConnection() {
      return CONNECTION;
    }
    async destroyRawConnection() {}
    async destroy(callback) {
      if (typeof callback === "function") callback();
    }
  };
}

/** SQLite, answering as better-sqlite3 does (what `knex migrate` uses with `client: "better-sqlite3"`). */
class SqliteClient extends sandboxed(BetterSqlite3Client) {
  async _query(connection, obj) {
    if (!obj.sql) throw new Error("The query is empty");
    // `hasTable` asks only whether a row exists: the host admits the name alone, never the
    // `CREATE` text that knex's `select *` would read for any table it names.
    if (obj.sql.trim().toLowerCase() === "select * from sqlite_master where type = 'table' and name = ?") {
      obj.sql = "select name from sqlite_master where type = 'table' and name = ?";
    }
    const bindings = this._formatBindings(obj.bindings);
    if (returnsRows(obj.sql)) {
      obj.response = queryRows(obj.sql, bindings);
      return obj;
    }
    const changes = executeStatement(obj.sql, bindings);
    let lastID;
    if (obj.method === "insert") {
      lastID = queryRows("SELECT last_insert_rowid() AS id", [])[0].id;
    }
    obj.response = { changes, lastInsertRowid: lastID };
    obj.context = { lastID, changes };
    return obj;
  }
}
Object.assign(SqliteClient.prototype, { driverName: "better-sqlite3" });

/** PostgreSQL, answering as `pg` does. */
class PgClient extends sandboxed(PostgresClient) {
  async checkVersion() {
    return "16.0";
  }
  async setSchemaSearchPath() {
    return true;
  }
  async _query(connection, obj) {
    if (!obj.sql) throw new Error("The query is empty");
    const bindings = obj.bindings || [];
    const first = (obj.sql.trim().match(/^\w+/) || ["QUERY"])[0].toUpperCase();
    const command = ["SELECT", "WITH", "VALUES", "TABLE"].includes(first) ? "SELECT" : first;
    if (returnsRows(obj.sql)) {
      const rows = queryRows(obj.sql, bindings);
      obj.response = { rows, rowCount: rows.length, command, fields: [] };
    } else {
      const n = executeStatement(obj.sql, bindings);
      obj.response = { rows: [], rowCount: n, command, fields: [] };
    }
    return obj;
  }
}
Object.assign(PgClient.prototype, { driverName: "pg" });

/** MySQL and MariaDB, answering as `mysql2` does. */
class MysqlClient extends sandboxed(Mysql2Client) {
  /** The connection's database, which knex binds into its catalog queries. */
  database() {
    if (this._database === undefined) this._database = queryRows("select database() as db", [])[0].db;
    return this._database;
  }
  async _query(connection, obj) {
    if (!obj.sql) throw new Error("The query is empty");
    // `hasTable` asks only whether a row exists: its `select *` would bring BIGINT UNSIGNED
    // columns, which the sql interface does not carry.
    const hasTable = "select * from information_schema.tables where table_name = ? and table_schema = database()";
    if (obj.sql === hasTable) obj.sql = hasTable.replace("select *", "select table_name");
    // Dates as mysql2 sends them: local time, `YYYY-MM-DD HH:MM:SS.mmm`.
    const pad = (n, w = 2) => String(n).padStart(w, "0");
    const bindings = (obj.bindings || []).map((b) =>
      b instanceof Date
        ? `${b.getFullYear()}-${pad(b.getMonth() + 1)}-${pad(b.getDate())} ${pad(b.getHours())}:${pad(b.getMinutes())}:${pad(b.getSeconds())}.${pad(b.getMilliseconds(), 3)}`
        : b,
    );
    if (returnsRows(obj.sql)) {
      obj.response = [queryRows(obj.sql, bindings), []];
    } else {
      const affectedRows = executeStatement(obj.sql, bindings);
      let insertId;
      if (obj.method === "insert") insertId = queryRows("SELECT CAST(LAST_INSERT_ID() AS SIGNED) AS id", [])[0].id;
      obj.response = [{ affectedRows, insertId, changedRows: affectedRows }, undefined];
    }
    return obj;
  }
}
Object.assign(MysqlClient.prototype, { driverName: "mysql2" });

function makeKnex() {
  const dialect = call(sql.dialect);
  const client = { sqlite: SqliteClient, postgres: PgClient, mysql: MysqlClient }[dialect];
  return knexFactory({ client, useNullAsDefault: true });
}

/** What a migration file may `require`: knex itself, nothing else. */
function requireFor(file) {
  return (id) => {
    if (id === "knex") return knexFactory;
    throw new Error(`${file}: require('${id}') is not available inside db-migrate's sandbox (a knex migration gets knex and nothing else)`);
  };
}

/**
 * A TypeScript file's types stripped, and an ES module's `import`/`export` turned into CommonJS,
 * by sucrase (a parser, not a pattern: any import and export form, multi-line lists, `export
 * { a as b }`, `import type`). Line numbers are kept, so errors point into the user's file.
 */
export function toCommonJs(file, src) {
  const typescript = /\.(ts|mts|cts)$/.test(file);
  const esm = typescript || /\.mjs$/.test(file) || /(^|[\n;])[ \t]*(export|import)[\s{*]/.test(src);
  if (!esm) return src;
  const transforms = typescript ? ["typescript", "imports"] : ["imports"];
  return transform(src, { transforms, filePath: file }).code;
}

/** The migration file this instance runs, loaded once. */
let loaded;

function load() {
  if (loaded) return loaded;
  const args = new Map(ctx.args());
  const file = args.get(FILE_ARG);
  const source = args.get(SOURCE_ARG);
  if (file === undefined || source === undefined) {
    loaded = { error: "the knex runtime was started without a migration file (db-migrate passes it)" };
    return loaded;
  }
  try {
    const code = toCommonJs(file, source);
    const module = { exports: {} };
    // Two lines of wrapper precede the body in the function the engine compiles.
    const fn = new Function("exports", "require", "module", "__filename", "__dirname", code);
    fn(module.exports, requireFor(file), module, file, ".");
    let m = module.exports;
    if (m && typeof m.up !== "function" && m.default && typeof m.default === "object") m = m.default;
    if (!m || typeof m.up !== "function") {
      loaded = { file, error: `${file}: a knex migration exports an \`up\` function (exports.up = async function (knex) {…})` };
    } else {
      loaded = { file, module: m };
    }
  } catch (e) {
    const where = e && e.lineNumber ? ` (line ${Math.max(1, e.lineNumber - 2)})` : "";
    loaded = { file, error: `${file}${where}: ${e && e.name ? e.name : "Error"}: ${e && e.message !== undefined ? e.message : String(e)}` };
  }
  return loaded;
}

export function metadata() {
  const l = load();
  if (l.error) return { description: l.error, reversible: true, transactional: true };
  const config = l.module.config || {};
  return {
    description: `knex migration ${l.file}`,
    reversible: typeof l.module.down === "function",
    transactional: config.transaction !== false,
  };
}

async function run(direction) {
  const l = load();
  if (l.error) throw l.error;
  const f = l.module[direction];
  if (typeof f !== "function") {
    if (direction === "down") throw `${l.file}: the migration has no down function`;
    throw `${l.file}: the migration has no ${direction} function`;
  }
  const knex = makeKnex();
  try {
    await f(knex);
  } catch (e) {
    throw `${e && e.name ? e.name : "Error"}: ${e && e.message !== undefined ? e.message : String(e)}`;
  }
}

export async function up() {
  return run("up");
}

export async function down() {
  return run("down");
}
