module.exports = { setTimeout, clearTimeout, setInterval: globalThis.setInterval, clearInterval: globalThis.clearInterval, setImmediate: (f, ...a) => setTimeout(() => f(...a), 0) };
