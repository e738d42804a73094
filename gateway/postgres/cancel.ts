// Backend keys: each client gets a key the gateway made, never the target's, and a
// CancelRequest carrying it is turned into one for the real backend.
import { randomInt, timingSafeEqual } from "node:crypto";
import { connect } from "node:net";
import { cancelRequest } from "./wire.js";

export interface UpstreamKey {
  host: string;
  port: number;
  pid: number;
  secret: number;
}

export class CancelKeys {
  private readonly byPid = new Map<number, { secret: Buffer; cancel: () => void }>();

  /** A fresh key for a session; `cancel` runs when a client presents it. */
  issue(cancel: () => void): { pid: number; secret: number; release: () => void } {
    let pid: number;
    do pid = randomInt(1, 0x7fffffff);
    while (this.byPid.has(pid));
    const secret = randomInt(0, 0xffffffff) | 0;
    const secretBytes = Buffer.alloc(4);
    secretBytes.writeInt32BE(secret, 0);
    this.byPid.set(pid, { secret: secretBytes, cancel });
    return { pid, secret, release: () => this.byPid.delete(pid) };
  }

  /** True when the key was known and its session's running statement was cancelled. */
  cancel(pid: number, secret: Buffer): boolean {
    const entry = this.byPid.get(pid);
    if (!entry || secret.length !== 4 || !timingSafeEqual(entry.secret, secret)) return false;
    entry.cancel();
    return true;
  }

  get size(): number {
    return this.byPid.size;
  }
}

/** Sends a CancelRequest to the target, the way libpq does: its own short connection. */
export function cancelUpstream(key: UpstreamKey, onError: (err: Error) => void, timeoutMs = 5_000): void {
  const socket = connect({ host: key.host, port: key.port });
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  socket.on("connect", () => socket.end(cancelRequest(key.pid, key.secret)));
  socket.on("error", (err) => onError(err));
  socket.on("close", () => clearTimeout(timer));
  socket.resume();
}
