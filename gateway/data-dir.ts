// One gateway process per data directory: the embedded PostgreSQL (and later the embedded
// ClickHouse) cannot be shared between processes, so a second one is refused clearly.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";

export class DataDirBusyError extends Error {
  readonly code = "DATA_DIR_BUSY";
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Takes the data directory for this process; returns the release function. */
export function lockDataDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, "gateway.lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = Number(readFileSync(path, "utf8").trim());
      if (pid && pid !== process.pid && alive(pid)) {
        throw new DataDirBusyError(`another gateway (pid ${pid}) is using ${dir}: stop it, or start this one with --data OTHER_DIR`);
      }
      // The previous owner died without cleaning up.
      rmSync(path, { force: true });
    }
  }
  throw new DataDirBusyError(`could not lock ${dir}`);
}
