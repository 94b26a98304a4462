import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { SecretBox } from "../../src/crypto/secret-box.ts";

test("a sealed secret opens with the same key and not with another", () => {
  const box = new SecretBox(randomBytes(32).toString("base64"));
  const sealed = box.seal("wJalrXUtnFEMI/K7MDENG");
  assert.ok(SecretBox.isSealed(sealed));
  assert.ok(!sealed.includes("wJalrXUtnFEMI"));
  assert.equal(box.open(sealed), "wJalrXUtnFEMI/K7MDENG");
  const other = new SecretBox(randomBytes(32).toString("base64"));
  assert.throws(() => other.open(sealed));
});

test("two seals of the same secret differ (random IV)", () => {
  const box = new SecretBox(randomBytes(32).toString("base64"));
  assert.notEqual(box.seal("x"), box.seal("x"));
});
