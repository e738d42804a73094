// Reads the SFTP (version 3) packets passing through a relayed sftp subsystem, both ways, and
// reports the file operations for the recording: open and close (with the bytes moved through
// the handle), remove, rename, mkdir, rmdir, setstat and symlink. File data is skipped, never
// copied: only each packet's first bytes are looked at.
import type { SftpOperation } from "../../recorder/index.js";

const T = {
  OPEN: 3, CLOSE: 4, READ: 5, WRITE: 6, SETSTAT: 9, FSETSTAT: 10, REMOVE: 13, MKDIR: 14, RMDIR: 15, RENAME: 18, SYMLINK: 20, EXTENDED: 200,
  STATUS: 101, HANDLE: 102, DATA: 103,
} as const;
const STATUS = ["ok", "EOF", "NO_SUCH_FILE", "PERMISSION_DENIED", "FAILURE", "BAD_MESSAGE", "NO_CONNECTION", "CONNECTION_LOST", "OP_UNSUPPORTED"];
// Enough for the header fields of every packet we read (paths are at most a few KiB).
const HEAD_BYTES = 16 * 1024;
const MAX_TRACKED = 4096;

type Pending = { op: string; path: string; path2?: string; handle?: string };
type Handle = { path: string; bytes: number };

/** Splits one direction of the byte stream into packets, keeping only each packet's head. */
class PacketSplitter {
  private lengthBytes = Buffer.alloc(4);
  private lengthHave = 0;
  private remaining = 0;
  private head: Buffer[] = [];
  private headHave = 0;
  private total = 0;

  constructor(private readonly onPacket: (head: Buffer, length: number) => void) {}

  push(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.remaining === 0) {
        const take = Math.min(4 - this.lengthHave, chunk.length - at);
        this.lengthBytes.set(chunk.subarray(at, at + take), this.lengthHave);
        this.lengthHave += take;
        at += take;
        if (this.lengthHave < 4) return;
        this.lengthHave = 0;
        this.total = this.remaining = this.lengthBytes.readUInt32BE(0);
        this.head = [];
        this.headHave = 0;
        if (this.remaining === 0) continue;
      }
      const take = Math.min(this.remaining, chunk.length - at);
      const keep = Math.min(take, HEAD_BYTES - this.headHave);
      if (keep > 0) {
        this.head.push(Buffer.from(chunk.subarray(at, at + keep)));
        this.headHave += keep;
      }
      at += take;
      this.remaining -= take;
      if (this.remaining === 0) this.onPacket(Buffer.concat(this.head), this.total);
    }
  }
}

class Reader {
  at = 0;
  constructor(private readonly b: Buffer) {}
  u8(): number {
    if (this.at + 1 > this.b.length) throw new RangeError("short");
    return this.b[this.at++] ?? 0;
  }
  u32(): number {
    if (this.at + 4 > this.b.length) throw new RangeError("short");
    const v = this.b.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  bytes(): Buffer {
    const len = this.u32();
    if (this.at + len > this.b.length) throw new RangeError("short");
    const v = this.b.subarray(this.at, this.at + len);
    this.at += len;
    return v;
  }
  text(): string {
    return this.bytes().toString("utf8");
  }
}

export class SftpLog {
  private readonly pending = new Map<number, Pending>();
  private readonly handles = new Map<string, Handle>();
  private readonly requests: PacketSplitter;
  private readonly replies: PacketSplitter;

  constructor(
    private readonly channel: number,
    private readonly emit: (op: SftpOperation) => void,
  ) {
    this.requests = new PacketSplitter((head, length) => this.request(head, length));
    this.replies = new PacketSplitter((head, length) => this.reply(head, length));
  }

  /** Bytes the client sent. */
  fromClient(chunk: Uint8Array): void {
    this.requests.push(chunk);
  }

  /** Bytes the target sent. */
  fromServer(chunk: Uint8Array): void {
    this.replies.push(chunk);
  }

  /** Handles still open when the channel ends are reported as closed by the end. */
  end(): void {
    for (const [, h] of this.handles) this.emit({ channel: this.channel, op: "close", path: h.path, bytes: h.bytes, status: "CONNECTION_LOST" });
    this.handles.clear();
    this.pending.clear();
  }

  private track(id: number, p: Pending): void {
    if (this.pending.size < MAX_TRACKED) this.pending.set(id, p);
  }

  private request(head: Buffer, length: number): void {
    const r = new Reader(head);
    try {
      const type = r.u8();
      if (type === 1) return; // INIT carries a version, no id.
      const id = r.u32();
      switch (type) {
        case T.OPEN:
          return this.track(id, { op: "open", path: r.text() });
        case T.CLOSE: {
          const handle = r.bytes().toString("latin1");
          return this.track(id, { op: "close", path: this.handles.get(handle)?.path ?? "", handle });
        }
        case T.READ: {
          const handle = r.bytes().toString("latin1");
          return this.track(id, { op: "read", path: "", handle });
        }
        case T.WRITE: {
          const handle = r.bytes().toString("latin1");
          const h = this.handles.get(handle);
          // type, id, handle, offset, data length: the rest of the packet is the data.
          if (h) h.bytes += Math.max(0, length - (r.at + 8 + 4));
          return;
        }
        case T.SETSTAT:
        case T.REMOVE:
        case T.MKDIR:
        case T.RMDIR:
          return this.track(id, { op: type === T.SETSTAT ? "setstat" : type === T.REMOVE ? "remove" : type === T.MKDIR ? "mkdir" : "rmdir", path: r.text() });
        case T.FSETSTAT: {
          const handle = r.bytes().toString("latin1");
          return this.track(id, { op: "setstat", path: this.handles.get(handle)?.path ?? "" });
        }
        case T.RENAME:
          return this.track(id, { op: "rename", path: r.text(), path2: r.text() });
        case T.SYMLINK:
          // OpenSSH sends the target first and the link second (the draft's order is reversed).
          return this.track(id, { op: "symlink", path: r.text(), path2: r.text() });
        case T.EXTENDED: {
          const name = r.text();
          if (name === "posix-rename@openssh.com") return this.track(id, { op: "rename", path: r.text(), path2: r.text() });
          return;
        }
        default:
          return;
      }
    } catch {
      // A malformed request is the target's to refuse; the log just skips it.
    }
  }

  private reply(head: Buffer, length: number): void {
    const r = new Reader(head);
    try {
      const type = r.u8();
      if (type === 2) return; // VERSION
      const id = r.u32();
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      if (p.op === "read") {
        const h = p.handle === undefined ? undefined : this.handles.get(p.handle);
        if (h && type === T.DATA) h.bytes += Math.max(0, length - 9);
        return;
      }
      if (p.op === "open" && type === T.HANDLE) {
        if (this.handles.size < MAX_TRACKED) this.handles.set(r.bytes().toString("latin1"), { path: p.path, bytes: 0 });
        return this.emit({ channel: this.channel, op: "open", path: p.path, status: "ok" });
      }
      const status = type === T.STATUS ? (STATUS[r.u32()] ?? "FAILURE") : "ok";
      if (p.op === "close") {
        const h = p.handle === undefined ? undefined : this.handles.get(p.handle);
        if (p.handle !== undefined) this.handles.delete(p.handle);
        return this.emit({ channel: this.channel, op: "close", path: h?.path ?? p.path, bytes: h?.bytes ?? 0, status });
      }
      this.emit({ channel: this.channel, op: p.op, path: p.path, ...(p.path2 !== undefined ? { path2: p.path2 } : {}), status });
    } catch {
      // As above: a malformed reply is not ours to judge.
    }
  }
}
