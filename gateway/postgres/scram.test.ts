import { describe, expect, it } from "vitest";
import { scramSha256Keys } from "../../vault/index.js";
import { PgGatewayError } from "./errors.js";
import { ScramClient, ScramServer } from "./scram.js";

const salt = Buffer.from("0123456789abcdef");
const keysOf = (password: string) => scramSha256Keys(password, { salt, iterations: 4096 });

function exchange(password: string, candidates: { value: string; keys: ReturnType<typeof keysOf> }[]) {
  const client = new ScramClient(Buffer.from(password));
  const server = new ScramServer(salt, 4096);
  const serverFirst = server.first(client.first());
  const result = server.final(client.final(serverFirst), candidates);
  return { client, result };
}

describe("SCRAM-SHA-256 both ways", () => {
  it("the token picks its grant among the candidates, and the client checks the server's signature", () => {
    const candidates = [
      { value: "grant-a", keys: keysOf("token-a-0123456789") },
      { value: "grant-b", keys: keysOf("token-b-0123456789") },
    ];
    const { client, result } = exchange("token-b-0123456789", candidates);
    expect(result?.value).toBe("grant-b");
    expect(() => client.verify(result?.serverFinal ?? "")).not.toThrow();
    expect(exchange("wrong-token-000000", candidates).result).toBeNull();
  });

  it("the client refuses a server that does not know the password", () => {
    const { client } = exchange("token-a-0123456789", [{ value: "x", keys: keysOf("token-a-0123456789") }]);
    const forged = `v=${Buffer.alloc(32, 7).toString("base64")}`;
    expect(() => client.verify(forged)).toThrow(/server signature is wrong/);
    expect(() => client.verify("e=invalid-proof")).toThrow(PgGatewayError);
  });

  it("refuses malformed messages and channel binding it did not offer", () => {
    const server = new ScramServer(salt, 4096);
    expect(() => server.first("p=tls-server-end-point,,n=,r=abc")).toThrow(/channel binding/);
    expect(() => server.first("garbage")).toThrow(PgGatewayError);
    server.first("n,,n=,r=clientnonce");
    expect(() => server.final("c=biws,r=othernonce,p=AAAA", [])).toThrow(/nonce/);
  });
});
