// CPU time read from Linux's /proc: what a process, each of its threads, or the whole machine
// has used so far. Benchmarks read it around a run to say what a path costs, not only how fast
// it went, on a machine whose cores the proxy shares with the client and the server.
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second for /proc's CPU fields (USER_HZ, 100 on Linux). */
const TICK = 100;

/** pid, or the first process under it whose command is `name`; 0 when there is none. */
export function processNamed(pid: number, name: string): number {
  try {
    if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() === name) return pid;
    for (const child of readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean)) {
      const found = processNamed(Number(child), name);
      if (found) return found;
    }
  } catch {
    // The process is gone.
  }
  return 0;
}

/** A process's CPU seconds so far, all threads, in user space and in the kernel. */
export function processCpu(pid: number): { user: number; system: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { user: Number(f[11]) / TICK, system: Number(f[12]) / TICK };
  } catch {
    return { user: 0, system: 0 };
  }
}

/** CPU seconds each thread of a process has used, by thread name (numbered pools merged; the process's first thread is "main"). */
export function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8");
      const name = t === String(pid) ? "main" : stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).replace(/[0-9]+$/, "");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(name, (out.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) / TICK);
    } catch {
      // The thread ended between listing and reading.
    }
  }
  return out;
}

/** The whole machine's busy CPU seconds so far, all cores (everything but idle and iowait). */
export function machineCpu(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return (user + nice + system + irq + softirq + steal) / TICK;
}
