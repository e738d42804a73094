// The protocol engines this gateway runs: adding a protocol is one folder and one line here.
import type { EngineFactory } from "./engine.js";
import { postgresEngine } from "./postgres/engine.js";
import { createHttpEngine } from "./http/engine.js";
import { sshEngine } from "./ssh/ssh-engine.js";

export const ENGINES: EngineFactory[] = [createHttpEngine, postgresEngine, sshEngine];
