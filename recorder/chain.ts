// The hash chain over a session's event rows. Events are grouped into chunks in seq order;
// chunk i's hash is SHA-256(hash of chunk i-1 ‖ its rows' bytes as stored), and the
// first chunk follows a genesis hash bound to the session id, so a chunk cannot be moved into
// another session. At the end, the last hash with the chunk and event counts is the final
// digest, signed when a signer is configured.
import { createHash, createPrivateKey, createPublicKey, sign, verify, type Hash, type KeyObject } from "node:crypto";
import type { RecordingSigner, RecordingVerifier } from "./ports.js";

export function genesis(sessionId: string): string {
  return createHash("sha256").update(`jitgate recording chain v1\n${sessionId}`).digest("hex");
}

/** Hashes a chunk's rows after `prev` (hex): each row's bytes as stored. */
export function chunkHash(prev: string, rows: Iterable<Uint8Array>): string {
  const h = createHash("sha256").update(Buffer.from(prev, "hex"));
  for (const row of rows) h.update(row);
  return h.digest("hex");
}

/** What a final digest's signature covers. */
export function digestMessage(sessionId: string, digest: string, chunks: number, events: number): Buffer {
  return Buffer.from(`jitgate recording digest v1\n${sessionId}\n${digest}\n${chunks}\n${events}\n`);
}

export interface ClosedChunk {
  chunk: number;
  firstSeq: number;
  lastSeq: number;
  events: number;
  prev: string;
  hash: string;
}

export interface ChainLimits {
  /** A chunk closes after this many events... */
  events: number;
  /** ...or this many bytes of rows... */
  bytes: number;
  /** ...or when it has been open this long (checked by tick()). */
  ms: number;
}

export const DEFAULT_CHAIN_LIMITS: ChainLimits = { events: 4096, bytes: 1 << 20, ms: 5000 };

/** One session's chain as its rows are made. */
export class ChainBuilder {
  #limits: ChainLimits;
  #prev: string;
  #hash: Hash | null = null;
  #chunk = 0;
  #first = 0;
  #last = 0;
  #count = 0;
  #bytes = 0;
  #openedAt = 0;
  #events = 0;
  /** Rows added and not yet hashed: bytes runStart..runEnd of run. */
  #run: Uint8Array | null = null;
  #runStart = 0;
  #runEnd = 0;

  constructor(sessionId: string, limits: ChainLimits) {
    this.#prev = genesis(sessionId);
    this.#limits = limits;
  }

  /** The index of the chunk the next row belongs to. */
  get chunk(): number {
    return this.#chunk;
  }

  get chunks(): number {
    return this.#chunk;
  }

  get events(): number {
    return this.#events;
  }

  /** The last closed chunk's hash (the genesis hash before any). */
  get digest(): string {
    return this.#prev;
  }

  /** Adds a row (its bytes as stored); returns the chunk it closed when the row filled it. */
  add(seq: number, row: Uint8Array, now: number): ClosedChunk | null {
    return this.addIn(row, 0, row.length, seq, now);
  }

  /**
   * Adds the row at bytes start..end of `buf`, which must stay as they are until flush() or
   * the chunk closes. Rows that follow each other in one buffer are hashed in one call.
   */
  addIn(buf: Uint8Array, start: number, end: number, seq: number, now: number): ClosedChunk | null {
    if (this.#hash === null) {
      this.#hash = createHash("sha256").update(Buffer.from(this.#prev, "hex"));
      this.#first = seq;
      this.#openedAt = now;
    }
    if (buf !== this.#run || start !== this.#runEnd) {
      this.flush();
      this.#run = buf;
      this.#runStart = start;
    }
    this.#runEnd = end;
    this.#last = seq;
    this.#count++;
    this.#events++;
    this.#bytes += end - start;
    return this.#count >= this.#limits.events || this.#bytes >= this.#limits.bytes ? this.close() : null;
  }

  /** Hashes the rows added and not yet hashed, so their buffer may be let go. */
  flush(): void {
    if (this.#run === null) return;
    if (this.#runEnd > this.#runStart) this.#hash?.update(this.#run.subarray(this.#runStart, this.#runEnd));
    this.#run = null;
    this.#runStart = this.#runEnd = 0;
  }

  /** Closes the open chunk if it has been open long enough. */
  tick(now: number): ClosedChunk | null {
    return this.#hash !== null && now - this.#openedAt >= this.#limits.ms ? this.close() : null;
  }

  /** Closes the open chunk, if any. */
  close(): ClosedChunk | null {
    if (this.#hash === null) return null;
    this.flush();
    const hash = this.#hash.digest("hex");
    const closed = { chunk: this.#chunk, firstSeq: this.#first, lastSeq: this.#last, events: this.#count, prev: this.#prev, hash };
    this.#prev = hash;
    this.#hash = null;
    this.#chunk++;
    this.#count = 0;
    this.#bytes = 0;
    return closed;
  }
}

/** The key id of an Ed25519 public key: the first 16 hex digits of SHA-256 of its SPKI DER. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash("sha256").update(publicKey.export({ type: "spki", format: "der" })).digest("hex").slice(0, 16);
}

export function ed25519Signer(privateKeyPem: string): RecordingSigner & { publicKey: KeyObject } {
  const key = createPrivateKey(privateKeyPem);
  if (key.asymmetricKeyType !== "ed25519") throw new Error(`a recording signing key must be Ed25519, not ${key.asymmetricKeyType ?? "unknown"}`);
  const publicKey = createPublicKey(key);
  return { keyId: keyIdOf(publicKey), publicKey, sign: (data) => sign(null, data, key) };
}

export function ed25519Verifier(publicKeys: readonly KeyObject[]): RecordingVerifier {
  const byId = new Map(publicKeys.map((k) => [keyIdOf(k), k]));
  return {
    verify(keyId, data, signature) {
      const key = byId.get(keyId);
      if (!key) return null;
      try {
        return verify(null, data, key, signature);
      } catch {
        return false;
      }
    },
  };
}
