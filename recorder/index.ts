// The recorder library: the recording model, the ClickHouse sink, terminal rendering, live
// fan-out, replay and export. Everything outside this folder imports from here only.
export * from "./model.js";
export * from "./terminal/index.js";
