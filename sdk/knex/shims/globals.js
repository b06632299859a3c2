// Globals knex reads at module load; injected before anything else runs.
export const process = globalThis.process || { env: {}, platform: "linux", browser: true, version: "v20.0.0", versions: {}, nextTick: (f, ...a) => Promise.resolve().then(() => f(...a)) };
export const Buffer = globalThis.Buffer || {
  isBuffer: (v) => v instanceof Uint8Array,
  from: () => {
    throw new Error("Buffer is not available inside db-migrate's sandbox");
  },
};
export const setImmediate = globalThis.setImmediate || ((f, ...a) => setTimeout(() => f(...a), 0));
