// TypeScript declarations of db-migrate.js, for editors. Written next to app.js by `db-migrate build`.

/** A value a statement takes or returns. Integers beyond 2^53 come back as bigint. */
export type SqlValue = null | boolean | number | bigint | string | Uint8Array | Date | object;

/** A failure the host reported. */
export class DbMigrateError extends Error {
  /** `denied` (a grant or limit), `invalid-input`, or `database`. */
  readonly kind: "denied" | "invalid-input" | "database";
  /** For database errors. */
  readonly errorKind?: "unique-violation" | "foreign-key-violation" | "not-null-violation" | "check-violation" | "syntax" | "other";
  /** SQLSTATE or the driver's code, when known. */
  readonly code?: string;
  readonly isUniqueViolation: boolean;
}

/** The connection's SQL. */
export function dialect(): "sqlite" | "postgres" | "mysql";
/** Runs one statement; the rows it changed. Placeholders: `?`, or `$1` on PostgreSQL. */
export function execute(statement: string, params?: SqlValue[]): number;
/** Runs one statement; its rows as objects by column name. */
export function query(statement: string, params?: SqlValue[]): Record<string, SqlValue>[];
/** One statement per row of parameters, in as few round trips as the database allows. */
export function executeBatch(statement: string, rows: SqlValue[][]): number;
/** Rows streamed into one table through one plain INSERT (one COPY on PostgreSQL); a row the database rejects ends the run. */
export class BulkInsert {
  constructor(statement: string);
  /** Hands rows (one value per placeholder, in order) to the database. */
  write(rows: SqlValue[][]): void;
  /** Waits until the database has taken every row written; how many were written. */
  finish(): number;
}
/** Iterates over a query's rows page by page. */
export function cursor(statement: string, params?: SqlValue[], pageSize?: number): Generator<Record<string, SqlValue>>;
/** The columns of a table. */
export function columns(table: string): { name: string; dataType: string; nullable: boolean }[];

export const log: {
  trace(message: unknown): void;
  debug(message: unknown): void;
  info(message: unknown): void;
  warn(message: unknown): void;
  error(message: unknown): void;
};
/** Reports progress; db-migrate draws a bar on a terminal. */
export function progress(done: number | bigint, total?: number | bigint): void;

export const context: {
  environment(): string;
  name(): string;
  version(): number;
  args(): Record<string, string>;
  arg(key: string, fallback?: string): string | undefined;
  /** A seed for deterministic pseudo-random data. */
  randomSeed(): bigint;
};

/** Base class of migrations. */
export class Migration {
  static description: string;
  static reversible: boolean;
  static transactional: boolean;
  up(): void;
  down(): void;
}

/** Base class of seeds. */
export class Seed {
  run(): void;
}

/** `export const { metadata, up, down } = exportMigration(MyMigration);` */
export function exportMigration(m: typeof Migration): {
  metadata(): { description: string; reversible: boolean; transactional: boolean };
  up(): void;
  down(): void;
};
/** `export const { run } = exportSeed(MySeed);` */
export function exportSeed(s: typeof Seed): { run(): void };
