import fs from "node:fs";
import path from "node:path";
import SQLite from "better-sqlite3";
import {
  CompiledQuery,
  Kysely,
  Migrator,
  PostgresDialect,
  SqliteDialect,
  type Migration,
  type DatabaseConnection,
  type Driver,
} from "kysely";
import pg from "pg";
import { tightenMode, type ModeChange } from "../util/file-mode.ts";
import type { Database } from "./schema.ts";
import * as m001 from "./migrations/001-initial.ts";
import * as m002 from "./migrations/002-chat.ts";
import * as m003 from "./migrations/003-jobs.ts";
import * as m004 from "./migrations/004-recorded-tracks.ts";
import * as m005 from "./migrations/005-beam.ts";
import * as m006 from "./migrations/006-hls.ts";
import * as m007 from "./migrations/007-room-codes.ts";
import * as m008 from "./migrations/008-analytics.ts";
import * as m009 from "./migrations/009-cluster.ts";
import * as m010 from "./migrations/010-quality.ts";

export type Db = Kysely<Database>;
export type DialectName = "sqlite" | "postgres";

export interface OpenedDatabase {
  db: Db;
  dialect: DialectName;
  /** SQLite files whose permissions were looser than 0600 and were tightened (to log). */
  tightened: ModeChange[];
  close(): Promise<void>;
}

const MIGRATIONS: Record<string, Migration> = {
  "001-initial": m001,
  "002-chat": m002,
  "003-jobs": m003,
  "004-recorded-tracks": m004,
  "005-beam": m005,
  "006-hls": m006,
  "007-room-codes": m007,
  "008-analytics": m008,
  "009-cluster": m009,
  "010-quality": m010,
};

// int8 (bigint) arrives from pg as a string; sizes stay well below 2^53, so read them as numbers.
pg.types.setTypeParser(20, (v) => Number(v));

/**
 * SQLite transactions start with BEGIN IMMEDIATE (take the write lock at once, waiting up to
 * busy_timeout for it). With Kysely's plain BEGIN, a transaction that reads and then writes while
 * another process (an SFU shard, the worker) has just written fails at once with SQLITE_BUSY
 * ("database is locked"): SQLite cannot wait there without risking a deadlock. Seen when a join in
 * one shard met a recorded session closing in another.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  override createDriver(): Driver {
    const driver = super.createDriver();
    driver.beginTransaction = async (connection: DatabaseConnection) => {
      await connection.executeQuery(CompiledQuery.raw("begin immediate"));
    };
    return driver;
  }
}

/** Opens `sqlite:<file>` or `postgres://…` and brings the schema up to date. */
export async function openDatabase(url: string): Promise<OpenedDatabase> {
  let db: Db;
  let dialect: DialectName;
  const tightened: ModeChange[] = [];
  if (url.startsWith("sqlite:")) {
    const file = url.slice("sqlite:".length);
    if (file !== ":memory:") {
      // The database holds sealed secrets and webhook headers: 0600. SQLite gives its -wal and -shm
      // files the database file's mode, so creating it 0600 first covers them too.
      fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
      fs.closeSync(fs.openSync(file, "a", 0o600));
      for (const f of [file, `${file}-wal`, `${file}-shm`]) {
        const change = tightenMode(f, 0o600);
        if (change) tightened.push(change);
      }
    }
    const sqlite = new SQLite(file);
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("busy_timeout = 5000");
    sqlite.pragma("synchronous = NORMAL");
    db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: sqlite }) });
    dialect = "sqlite";
  } else {
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    pool.on("error", () => {}); // idle-client errors surface on the next query instead of crashing
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    dialect = "postgres";
  }
  await migrate(db);
  return { db, dialect, tightened, close: () => db.destroy() };
}

export async function migrate(db: Db): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => MIGRATIONS },
  });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === "Error");
  if (error || failed) {
    throw new Error(`database migration ${failed?.migrationName ?? ""} failed`, { cause: error });
  }
}

export const toBool = (v: number | boolean): boolean => v === 1 || v === true;
export const fromBool = (b: boolean): 0 | 1 => (b ? 1 : 0);
