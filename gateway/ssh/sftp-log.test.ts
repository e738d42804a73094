import { describe, expect, it } from "vitest";
import type { SftpOperation } from "../../recorder/index.js";
import { SftpLog } from "./sftp-log.js";

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const str = (s: string | Buffer) => Buffer.concat([u32(Buffer.byteLength(s)), Buffer.from(s)]);
const u64 = (n: number) => Buffer.concat([u32(0), u32(n)]);
const packet = (type: number, ...fields: Buffer[]) => {
  const body = Buffer.concat([Buffer.from([type]), ...fields]);
  return Buffer.concat([u32(body.length), body]);
};
const status = (id: number, code: number) => packet(101, u32(id), u32(code), str(""), str(""));

/** Feeds a stream one byte at a time and in one piece; both must give the same log. */
function feed(client: Buffer[], server: Buffer[], byteByByte: boolean): SftpOperation[] {
  const ops: SftpOperation[] = [];
  const log = new SftpLog(3, (op) => ops.push(op));
  for (let i = 0; i < Math.max(client.length, server.length); i++) {
    for (const [chunk, push] of [[client[i], (c: Uint8Array) => log.fromClient(c)], [server[i], (c: Uint8Array) => log.fromServer(c)]] as const) {
      if (!chunk) continue;
      if (byteByByte) for (const b of chunk) push(Uint8Array.of(b));
      else push(chunk);
    }
  }
  return ops;
}

describe("SftpLog", () => {
  const data = Buffer.alloc(70_000, 7);
  const client = [
    Buffer.concat([packet(1, u32(3)), packet(3, u32(1), str("/tmp/a.txt"), u32(0x1a), u32(0))]),
    Buffer.concat([packet(6, u32(2), str("h1"), u64(0), str(data)), packet(5, u32(3), str("h1"), u64(0), u32(4096))]),
    Buffer.concat([packet(4, u32(4), str("h1")), packet(18, u32(5), str("/tmp/a.txt"), str("/tmp/b.txt")), packet(13, u32(6), str("/nope"))]),
    Buffer.concat([packet(200, u32(7), str("posix-rename@openssh.com"), str("/x"), str("/y")), packet(14, u32(8), str("/d"), u32(0)), packet(9, u32(9), str("/d"), u32(0))]),
  ];
  const server = [
    Buffer.concat([packet(2, u32(3)), packet(102, u32(1), str("h1"))]),
    Buffer.concat([status(2, 0), packet(103, u32(3), str(Buffer.alloc(100, 1)))]),
    Buffer.concat([status(4, 0), status(5, 0), status(6, 2)]),
    Buffer.concat([status(7, 0), status(8, 3), status(9, 0)]),
  ];
  const expected: SftpOperation[] = [
    { channel: 3, op: "open", path: "/tmp/a.txt", status: "ok" },
    { channel: 3, op: "close", path: "/tmp/a.txt", bytes: 70_100, status: "ok" },
    { channel: 3, op: "rename", path: "/tmp/a.txt", path2: "/tmp/b.txt", status: "ok" },
    { channel: 3, op: "remove", path: "/nope", status: "NO_SUCH_FILE" },
    { channel: 3, op: "rename", path: "/x", path2: "/y", status: "ok" },
    { channel: 3, op: "mkdir", path: "/d", status: "PERMISSION_DENIED" },
    { channel: 3, op: "setstat", path: "/d", status: "ok" },
  ];

  it("reports file operations with bytes moved, in whole chunks and split anywhere", () => {
    expect(feed(client, server, false)).toEqual(expected);
    expect(feed(client, server, true)).toEqual(expected);
  });

  it("reports handles left open as lost when the channel ends, and survives garbage", () => {
    const ops: SftpOperation[] = [];
    const log = new SftpLog(0, (op) => ops.push(op));
    log.fromClient(packet(3, u32(1), str("/f"), u32(1), u32(0)));
    log.fromServer(packet(102, u32(1), str("h")));
    log.fromClient(Buffer.concat([u32(3), Buffer.from([4, 0, 0])]));
    log.fromServer(Buffer.concat([u32(2), Buffer.from([101, 9])]));
    log.end();
    expect(ops).toEqual([{ channel: 0, op: "open", path: "/f", status: "ok" }, { channel: 0, op: "close", path: "/f", bytes: 0, status: "CONNECTION_LOST" }]);
  });
});
