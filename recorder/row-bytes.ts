// RowBinary's field encodings, written straight into the bytes of a batch: integers little
// endian in their width, strings as an unsigned LEB128 length and the bytes as they are.
// An event row is written so once per engine call, and rebuilt so by the verifier from what
// ClickHouse returns; both go through these writers, so they agree byte for byte.

/** The most bytes a string's length takes (LEB128 of up to 2^35). */
export const MAX_LENGTH_BYTES = 5;

/** Writes `n` (a whole number, 0 or more) as unsigned LEB128; returns the end. */
export function writeLength(buf: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[at++] = n;
  return at;
}

/** Reads an unsigned LEB128 at `at`: [value, end], or null when `buf` ends first. */
export function readLength(buf: Uint8Array, at: number): [number, number] | null {
  let n = 0;
  let scale = 1;
  while (at < buf.length) {
    const b = buf[at++] as number;
    n += (b & 0x7f) * scale;
    if (b < 0x80) return [n, at];
    scale *= 0x80;
    if (scale > 2 ** 35) return null;
  }
  return null;
}

/** Writes a UInt64 or Int64 of a safe integer; returns the end. */
export function write64(buf: Buffer, at: number, n: number): number {
  if (n >= 0 && n <= Number.MAX_SAFE_INTEGER) {
    buf.writeUInt32LE(n % 0x1_0000_0000, at);
    buf.writeUInt32LE(Math.floor(n / 0x1_0000_0000), at + 4);
  } else {
    buf.writeBigInt64LE(BigInt(Math.trunc(n)), at);
  }
  return at + 8;
}

/** Writes a string's UTF-8 with its length before it; returns the end. */
export function writeString(buf: Buffer, at: number, s: string): number {
  if (s === "") {
    buf[at] = 0;
    return at + 1;
  }
  const bytes = Buffer.byteLength(s, "utf8");
  at = writeLength(buf, at, bytes);
  return at + buf.write(s, at, "utf8");
}

/** Writes bytes with their length before them; returns the end. */
export function writeBytes(buf: Buffer, at: number, data: Uint8Array): number {
  at = writeLength(buf, at, data.length);
  buf.set(data, at);
  return at + data.length;
}
