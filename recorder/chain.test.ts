// The chain: a chunk's hash covers the hash before it and its rows' bytes; the genesis binds
// the session id; signatures check only against the key that made them.
import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ChainBuilder, chunkHash, digestMessage, ed25519Signer, ed25519Verifier, genesis } from "./chain.js";

const row = (s: string) => new Uint8Array(Buffer.from(`${s}\n`));

describe("hash chain", () => {
  it("closes chunks by count and links each to the one before", () => {
    const chain = new ChainBuilder("s1", { events: 3, bytes: 1 << 20, ms: 5000 });
    const lines = ["a", "b", "c", "d", "e"];
    const closed = lines.map((l, seq) => chain.add(seq, row(l), 0)).filter((c) => c !== null);
    expect(closed).toHaveLength(1);
    const last = chain.close();
    expect(closed[0]).toMatchObject({ chunk: 0, firstSeq: 0, lastSeq: 2, events: 3, prev: genesis("s1"), hash: chunkHash(genesis("s1"), ["a", "b", "c"].map(row)) });
    expect(last).toMatchObject({ chunk: 1, firstSeq: 3, lastSeq: 4, prev: closed[0]!.hash, hash: chunkHash(closed[0]!.hash, ["d", "e"].map(row)) });
    expect(chain.digest).toBe(last!.hash);
    expect([chain.chunks, chain.events]).toEqual([2, 5]);
    expect(chain.close()).toBeNull();
  });

  it("closes a chunk left open too long, and binds the chain to its session", () => {
    const chain = new ChainBuilder("s1", { events: 100, bytes: 1 << 20, ms: 1000 });
    chain.add(0, row("a"), 10_000);
    expect(chain.tick(10_500)).toBeNull();
    expect(chain.tick(11_000)).toMatchObject({ chunk: 0, events: 1 });
    expect(genesis("s1")).not.toBe(genesis("s2"));
  });

  it("verifies a signature with the signer's public key only", () => {
    const a = generateKeyPairSync("ed25519");
    const b = generateKeyPairSync("ed25519");
    const signer = ed25519Signer(a.privateKey.export({ type: "pkcs8", format: "pem" }).toString());
    const message = digestMessage("s1", "ab".repeat(32), 2, 5);
    const signature = signer.sign(message);
    expect(ed25519Verifier([a.publicKey]).verify(signer.keyId, message, signature)).toBe(true);
    expect(ed25519Verifier([a.publicKey]).verify(signer.keyId, digestMessage("s1", "ab".repeat(32), 2, 6), signature)).toBe(false);
    expect(ed25519Verifier([b.publicKey]).verify(signer.keyId, message, signature)).toBeNull();
    expect(() => ed25519Signer(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString())).toThrow(/Ed25519/);
  });
});
