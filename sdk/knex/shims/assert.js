// `assert` as knex uses it: a truthy check that throws.
function assert(value, message) {
  if (!value) throw new Error(message || "assertion failed");
}
assert.ok = assert;
assert.equal = (a, b, m) => assert(a == b, m);
assert.strictEqual = (a, b, m) => assert(a === b, m);
assert.notStrictEqual = (a, b, m) => assert(a !== b, m);
assert.deepStrictEqual = (a, b, m) => assert(JSON.stringify(a) === JSON.stringify(b), m);
module.exports = assert;
