// The protocol engines this gateway runs: adding a protocol is one folder and one line here.
import type { EngineFactory } from "./engine.js";

export const ENGINES: EngineFactory[] = [];
