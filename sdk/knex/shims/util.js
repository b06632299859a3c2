// The few `util` functions knex uses, for a runtime without Node's built-ins.
function inspect(v) {
  try {
    return typeof v === "string" ? v : JSON.stringify(v);
  } catch (_) {
    return String(v);
  }
}
function promisify(f) {
  return (...args) => new Promise((resolve, reject) => f(...args, (err, v) => (err ? reject(err) : resolve(v))));
}
function callbackify(f) {
  return (...args) => {
    const cb = args.pop();
    f(...args).then((v) => cb(null, v), (e) => cb(e));
  };
}
function deprecate(f) {
  return f;
}
function inherits(ctor, superCtor) {
  Object.setPrototypeOf(ctor.prototype, superCtor.prototype);
  Object.setPrototypeOf(ctor, superCtor);
}
function format(...args) {
  return args.map(inspect).join(" ");
}
module.exports = { inspect, promisify, callbackify, deprecate, inherits, format, types: {} };
