import { randomBytes } from "node:crypto";
import pg from "pg";
import { openDatabase, type OpenedDatabase, type DialectName } from "../../src/db/database.ts";

// Every database test runs on both engines: SQLite in memory and the PostgreSQL that
// scripts/run-tests.mjs started (TAPEDECK_TEST_PG_URL), in a fresh database of its own.

export const DIALECTS: DialectName[] = ["sqlite", "postgres"];

export async function freshDatabaseUrl(dialect: DialectName): Promise<string> {
  if (dialect === "sqlite") return "sqlite::memory:";
  const base = process.env.TAPEDECK_TEST_PG_URL;
  if (!base) throw new Error("TAPEDECK_TEST_PG_URL is not set: run the tests with `npm test`, which starts PostgreSQL");
  const name = `t_${randomBytes(6).toString("hex")}`;
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function openTestDatabase(dialect: DialectName): Promise<OpenedDatabase> {
  return openDatabase(await freshDatabaseUrl(dialect));
}
