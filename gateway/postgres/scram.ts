// SCRAM-SHA-256 (RFC 5802 / RFC 7677) both ways: the gateway as server towards clients,
// proving a grant token without ever holding it in plaintext beyond the derivation, and
// as client towards targets, where the server's signature is checked before going on.
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";
import type { ScramKeys } from "../../vault/index.js";
import { PgGatewayError } from "./errors.js";

const hmac = (key: Buffer, data: string | Buffer) => createHmac("sha256", key).update(data).digest();
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest();
const bad = (message: string) => new PgGatewayError("PG_PROTOCOL", "08P01", `malformed SCRAM message: ${message}`);

function attributes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(",")) {
    if (part.length < 2 || part[1] !== "=") throw bad(`unexpected attribute ${JSON.stringify(part.slice(0, 20))}`);
    out.set(part[0] as string, part.slice(2));
  }
  return out;
}

const PRINTABLE = /^[\x21-\x2b\x2d-\x7e]+$/;

/** The server's side of one exchange. */
export class ScramServer {
  private clientFirstBare = "";
  private serverFirst = "";
  private gs2 = "";
  private nonce = "";

  constructor(
    private readonly salt: Buffer,
    private readonly iterations: number,
  ) {}

  /** Reads client-first-message, returns server-first-message. */
  first(clientFirst: string): string {
    const m = /^([ny]|p=[^,]*),([^,]*),(.*)$/.exec(clientFirst);
    if (!m) throw bad("the first message has no GS2 header");
    if (m[1]?.startsWith("p=")) throw bad("channel binding was not offered by this server");
    this.gs2 = `${m[1]},${m[2]},`;
    this.clientFirstBare = m[3] ?? "";
    const attrs = attributes(this.clientFirstBare);
    const clientNonce = attrs.get("r");
    if (!clientNonce || !PRINTABLE.test(clientNonce)) throw bad("the client nonce is missing or not printable");
    this.nonce = clientNonce + randomBytes(18).toString("base64");
    this.serverFirst = `r=${this.nonce},s=${this.salt.toString("base64")},i=${this.iterations}`;
    return this.serverFirst;
  }

  /**
   * Reads client-final-message and finds which of the candidates' keys its proof fits.
   * Returns the matching candidate and the server-final-message proving the server knew it.
   */
  final<T>(clientFinal: string, candidates: { value: T; keys: ScramKeys }[]): { value: T; serverFinal: string } | null {
    const proofAt = clientFinal.lastIndexOf(",p=");
    if (proofAt < 0) throw bad("the final message has no proof");
    const withoutProof = clientFinal.slice(0, proofAt);
    const attrs = attributes(withoutProof);
    if (attrs.get("c") !== Buffer.from(this.gs2).toString("base64")) throw bad("channel binding data does not match the first message");
    if (attrs.get("r") !== this.nonce) throw bad("the nonce does not match");
    const proof = Buffer.from(clientFinal.slice(proofAt + 3), "base64");
    if (proof.length !== 32) throw bad("the proof is not 32 bytes");
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    let found: { value: T; serverFinal: string } | null = null;
    // Every candidate is checked, so the time taken says nothing about which one matched.
    for (const c of candidates) {
      const signature = hmac(c.keys.storedKey, authMessage);
      const clientKey = Buffer.alloc(32);
      for (let i = 0; i < 32; i++) clientKey[i] = (proof[i] ?? 0) ^ (signature[i] ?? 0);
      if (timingSafeEqual(sha256(clientKey), c.keys.storedKey) && !found) {
        found = { value: c.value, serverFinal: `v=${hmac(c.keys.serverKey, authMessage).toString("base64")}` };
      }
    }
    return found;
  }
}

/** The client's side of one exchange, towards a target. */
export class ScramClient {
  private readonly clientNonce = randomBytes(18).toString("base64");
  private readonly clientFirstBare = `n=,r=${this.clientNonce}`;
  private expectedServerSignature: Buffer | null = null;

  constructor(private readonly password: Buffer) {}

  first(): string {
    return `n,,${this.clientFirstBare}`;
  }

  final(serverFirst: string): string {
    const attrs = attributes(serverFirst);
    const nonce = attrs.get("r") ?? "";
    const salt = Buffer.from(attrs.get("s") ?? "", "base64");
    const iterations = Number(attrs.get("i"));
    if (!nonce.startsWith(this.clientNonce) || nonce.length === this.clientNonce.length) throw bad("the server's nonce does not extend ours");
    if (salt.length === 0) throw bad("the server sent no salt");
    if (!Number.isInteger(iterations) || iterations < 1 || iterations > 10_000_000) throw bad("the server's iteration count is not valid");
    const salted = pbkdf2Sync(this.password, salt, iterations, 32, "sha256");
    try {
      const clientKey = hmac(salted, "Client Key");
      const withoutProof = `c=biws,r=${nonce}`;
      const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
      const signature = hmac(sha256(clientKey), authMessage);
      for (let i = 0; i < 32; i++) clientKey[i] = (clientKey[i] ?? 0) ^ (signature[i] ?? 0);
      this.expectedServerSignature = hmac(hmac(salted, "Server Key"), authMessage);
      return `${withoutProof},p=${clientKey.toString("base64")}`;
    } finally {
      salted.fill(0);
    }
  }

  /** Throws unless the server proved it knows the password's keys. */
  verify(serverFinal: string): void {
    const attrs = attributes(serverFinal);
    const error = attrs.get("e");
    if (error) throw new PgGatewayError("PG_UPSTREAM_AUTH", "28000", `the target refused the SCRAM exchange: ${error}`);
    const v = Buffer.from(attrs.get("v") ?? "", "base64");
    if (!this.expectedServerSignature || v.length !== 32 || !timingSafeEqual(v, this.expectedServerSignature)) {
      throw new PgGatewayError("PG_UPSTREAM_AUTH", "28000", "the target's SCRAM server signature is wrong: it does not know this account's password (a man in the middle?)");
    }
  }
}
