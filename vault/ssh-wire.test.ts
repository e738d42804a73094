import { describe, expect, it } from "vitest";
import { VaultError } from "./errors.js";
import { SshReader, SshWriter } from "./ssh-wire.js";

function malformedError(fn: () => unknown): VaultError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(VaultError);
    expect((error as VaultError).code).toBe("SSH_MALFORMED");
    expect((error as VaultError).kind).toBe("invalid");
    return error as VaultError;
  }
  throw new Error("expected SSH_MALFORMED");
}

describe("SshWriter and SshReader", () => {
  it("round-trips every field type", () => {
    const bytes = new SshWriter()
      .uint8(7)
      .uint32(0xdeadbeef)
      .uint64((1n << 64n) - 1n)
      .string("héllo")
      .string(Buffer.from([0, 1, 2]))
      .mpint(0n)
      .mpint(0x80n)
      .mpint(Buffer.from([0, 0, 0x7f]))
      .nameList(["a", "b-c"])
      .nameList([])
      .toBuffer();
    const r = new SshReader(bytes);
    expect(r.uint8()).toBe(7);
    expect(r.uint32()).toBe(0xdeadbeef);
    expect(r.uint64()).toBe((1n << 64n) - 1n);
    expect(r.utf8()).toBe("héllo");
    expect([...r.string()]).toEqual([0, 1, 2]);
    expect(r.mpint().length).toBe(0);
    expect([...r.mpint()]).toEqual([0x80]);
    expect([...r.mpint()]).toEqual([0x7f]);
    expect(r.nameList()).toEqual(["a", "b-c"]);
    expect(r.nameList()).toEqual([]);
    r.end();
  });

  it("encodes mpints as RFC 4251 shows them", () => {
    const hex = (v: bigint): string => new SshWriter().mpint(v).toBuffer().toString("hex");
    expect(hex(0n)).toBe("00000000");
    expect(hex(0x9a378f9b2e332a7n)).toBe("0000000809a378f9b2e332a7");
    expect(hex(0x80n)).toBe("000000020080");
  });

  it("refuses negative and needlessly padded mpints", () => {
    malformedError(() => new SshReader(Buffer.from("0000000180", "hex")).mpint());
    malformedError(() => new SshReader(Buffer.from("000000020001", "hex")).mpint());
    malformedError(() => new SshReader(Buffer.from("0000000100", "hex")).mpint());
  });

  it("refuses truncation at every point with SSH_MALFORMED", () => {
    const bytes = new SshWriter().uint32(1).string("abcdef").uint64(5n).toBuffer();
    for (let cut = 0; cut < bytes.length; cut++) {
      const r = new SshReader(bytes.subarray(0, cut));
      malformedError(() => {
        r.uint32();
        r.string();
        r.uint64();
      });
    }
  });

  it("refuses a length that claims more than is there, without allocating it", () => {
    const lie = Buffer.from("ffffffff41", "hex");
    const error = malformedError(() => new SshReader(lie, "test blob").string("payload"));
    expect(error.message).toMatch(/test blob.*payload needs 4294967295 bytes/);
  });

  it("refuses invalid UTF-8, empty names and trailing bytes", () => {
    malformedError(() => new SshReader(new SshWriter().string(Buffer.from([0xc3, 0x28])).toBuffer()).utf8());
    malformedError(() => new SshReader(new SshWriter().string("a,,b").toBuffer()).nameList());
    malformedError(() => new SshReader(Buffer.from([1])).end());
  });

  it("refuses values that do not fit their field", () => {
    malformedError(() => new SshWriter().uint32(2 ** 32));
    malformedError(() => new SshWriter().uint32(-1));
    malformedError(() => new SshWriter().uint64(1n << 64n));
    malformedError(() => new SshWriter().mpint(-1n));
    malformedError(() => new SshWriter().nameList(["a,b"]));
  });
});
