// A Node built-in knex references but never uses on the paths a migration takes.
module.exports = {};
