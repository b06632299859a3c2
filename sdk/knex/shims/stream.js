// knex requires `stream` lazily for `.stream()`, which a migration under db-migrate cannot use.
class Stream {
  constructor() {
    throw new Error("knex streams are not available inside db-migrate's sandbox; use a query (or .then) instead");
  }
}
module.exports = { Transform: Stream, PassThrough: Stream, Readable: Stream, Writable: Stream, Stream };
