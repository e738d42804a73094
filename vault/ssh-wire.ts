// SSH wire encoding (RFC 4251 §5) for keys and certificates. Everything we read comes from a
// person or a network peer, so the reader trusts no length it is given and fails with
// SSH_MALFORMED rather than reading past the end or allocating what a length claims.
import { VaultError } from "./errors.js";

const UINT32_MAX = 0xffff_ffff;
const UINT64_MAX = (1n << 64n) - 1n;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

export function malformed(message: string): VaultError {
  return new VaultError("SSH_MALFORMED", "invalid", message);
}

export class SshWriter {
  private readonly parts: Buffer[] = [];

  uint8(value: number): this {
    this.parts.push(Buffer.from([value & 0xff]));
    return this;
  }

  uint32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > UINT32_MAX) throw malformed(`uint32 out of range: ${value}`);
    const b = Buffer.alloc(4);
    b.writeUInt32BE(value);
    this.parts.push(b);
    return this;
  }

  uint64(value: bigint): this {
    if (value < 0n || value > UINT64_MAX) throw malformed(`uint64 out of range: ${value}`);
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(value);
    this.parts.push(b);
    return this;
  }

  string(value: Buffer | string): this {
    const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value;
    this.uint32(bytes.length);
    this.parts.push(bytes);
    return this;
  }

  /** A non-negative integer given as unsigned big-endian magnitude or as a bigint. */
  mpint(value: Buffer | bigint): this {
    let magnitude: Buffer;
    if (typeof value === "bigint") {
      if (value < 0n) throw malformed("negative mpint values are never needed for keys");
      const hex = value.toString(16);
      magnitude = value === 0n ? Buffer.alloc(0) : Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex");
    } else {
      magnitude = value;
    }
    let start = 0;
    while (start < magnitude.length && magnitude[start] === 0) start++;
    let body = magnitude.subarray(start);
    // A set high bit would read back as negative, so a zero byte keeps it positive.
    if (body.length > 0 && (body[0]! & 0x80) !== 0) body = Buffer.concat([Buffer.from([0]), body]);
    return this.string(body);
  }

  nameList(names: readonly string[]): this {
    for (const name of names) {
      if (name.length === 0 || name.includes(",")) throw malformed(`invalid name in name-list: "${name}"`);
    }
    return this.string(names.join(","));
  }

  raw(bytes: Buffer): this {
    this.parts.push(bytes);
    return this;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export class SshReader {
  private pos = 0;

  constructor(private readonly buf: Buffer, private readonly what = "SSH data") {}

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private take(n: number, field: string): Buffer {
    if (n > this.remaining) {
      throw malformed(`${this.what} is truncated or lies about a length: ${field} needs ${n} bytes at offset ${this.pos}, ${this.remaining} left`);
    }
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  uint8(field = "byte"): number {
    return this.take(1, field)[0]!;
  }

  uint32(field = "uint32"): number {
    return this.take(4, field).readUInt32BE(0);
  }

  uint64(field = "uint64"): bigint {
    return this.take(8, field).readBigUInt64BE(0);
  }

  /** The bytes of a string; a view into the input, not a copy. */
  string(field = "string"): Buffer {
    const length = this.uint32(`${field} length`);
    return this.take(length, field);
  }

  utf8(field = "text"): string {
    const bytes = this.string(field);
    try {
      return strictUtf8.decode(bytes);
    } catch {
      throw malformed(`${this.what}: ${field} is not valid UTF-8`);
    }
  }

  /** A non-negative mpint as its unsigned big-endian magnitude; negative or padded forms refused. */
  mpint(field = "mpint"): Buffer {
    const bytes = this.string(field);
    if (bytes.length === 0) return bytes;
    if ((bytes[0]! & 0x80) !== 0) throw malformed(`${this.what}: ${field} is negative`);
    if (bytes[0] === 0) {
      if (bytes.length === 1 || (bytes[1]! & 0x80) === 0) throw malformed(`${this.what}: ${field} has a needless leading zero`);
      return bytes.subarray(1);
    }
    return bytes;
  }

  nameList(field = "name-list"): string[] {
    const text = this.utf8(field);
    if (text === "") return [];
    const names = text.split(",");
    if (names.some((n) => n.length === 0)) throw malformed(`${this.what}: ${field} has an empty name`);
    return names;
  }

  /** Trailing bytes mean the structure is not what we think it is. */
  end(): void {
    if (this.remaining !== 0) throw malformed(`${this.what} has ${this.remaining} unexpected trailing bytes`);
  }
}
