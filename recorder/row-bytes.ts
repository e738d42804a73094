// Writing a row's fields straight into the bytes of a batch, for the one row written per
// engine call (an event): no template string to build, flatten and encode again. Each writer
// produces exactly the bytes of the string form (`${n}`, base64), so the line the chain
// hashes and the verifier rebuilds from strings is the same.

const BASE64 = new TextEncoder().encode("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
const EQUALS = 0x3d;
/** Above this, Node's own encoder is faster than the loop below. */
const NATIVE_BASE64 = 256;

/** Writes `${n}`; returns the end. */
export function writeNumber(buf: Buffer, at: number, n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) return at + buf.write(String(n), at, "latin1");
  let digits = 1;
  for (let m = n; m >= 10; m = Math.floor(m / 10)) digits++;
  const end = at + digits;
  let p = end;
  while (n >= 10) {
    const q = Math.floor(n / 10);
    buf[--p] = 48 + (n - q * 10);
    n = q;
  }
  buf[p - 1] = 48 + n;
  return end;
}

/** The length of `data` in base64. */
export const base64Length = (bytes: number): number => Math.ceil(bytes / 3) * 4;

/** Writes `data` as base64 (with padding); returns the end. */
export function writeBase64(buf: Buffer, at: number, data: Uint8Array): number {
  const n = data.length;
  if (n > NATIVE_BASE64) return at + buf.write(Buffer.from(data.buffer, data.byteOffset, n).toString("base64"), at, "latin1");
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const x = ((data[i] as number) << 16) | ((data[i + 1] as number) << 8) | (data[i + 2] as number);
    buf[at++] = BASE64[x >>> 18] as number;
    buf[at++] = BASE64[(x >>> 12) & 63] as number;
    buf[at++] = BASE64[(x >>> 6) & 63] as number;
    buf[at++] = BASE64[x & 63] as number;
  }
  if (i < n) {
    const two = i + 1 < n;
    const x = ((data[i] as number) << 16) | ((two ? (data[i + 1] as number) : 0) << 8);
    buf[at++] = BASE64[x >>> 18] as number;
    buf[at++] = BASE64[(x >>> 12) & 63] as number;
    buf[at++] = two ? (BASE64[(x >>> 6) & 63] as number) : EQUALS;
    buf[at++] = EQUALS;
  }
  return at;
}
