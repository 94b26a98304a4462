import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DIALECTS, openTestDatabase } from "../support/db.ts";

for (const dialect of DIALECTS) {
  describe(`database on ${dialect}`, () => {
    test("migrates, writes and reads back within a transaction", async () => {
      const { db, close } = await openTestDatabase(dialect);
      try {
        await db.transaction().execute(async (trx) => {
          await trx.insertInto("app_settings").values({ key: "k", value: "v", updated_at: new Date().toISOString() }).execute();
        });
        const row = await db.selectFrom("app_settings").selectAll().where("key", "=", "k").executeTakeFirstOrThrow();
        assert.equal(row.value, "v");
      } finally {
        await close();
      }
    });

    test("a failed transaction leaves nothing behind", async () => {
      const { db, close } = await openTestDatabase(dialect);
      try {
        await assert.rejects(
          db.transaction().execute(async (trx) => {
            await trx.insertInto("app_settings").values({ key: "gone", value: "v", updated_at: "" }).execute();
            throw new Error("boom");
          }),
        );
        const row = await db.selectFrom("app_settings").selectAll().where("key", "=", "gone").executeTakeFirst();
        assert.equal(row, undefined);
      } finally {
        await close();
      }
    });
  });
}
