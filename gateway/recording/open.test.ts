// The node's recorder: embedded ClickHouse under the data directory, the signing key made
// once in the vault and reused, older keys still verifying after the key is replaced.
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../policies/index.js";
import type { SecretStore } from "../../vault/index.js";
import { loadConfig } from "../config.js";
import { openRecorder, RECORDING_SIGNING_KEY } from "./open.js";

const dataDir = mkdtempSync(join(tmpdir(), "jitgate-open-recorder-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** The few SecretStore calls the recorder makes, in memory. */
function memorySecrets() {
  const versions: { version: number; state: "current" | "retired"; value: Buffer }[] = [];
  const store = {
    has: async (name: string) => name === RECORDING_SIGNING_KEY && versions.length > 0,
    put: async (_name: string, _kind: string, value: Buffer) => {
      for (const v of versions) v.state = "retired";
      versions.push({ version: versions.length + 1, state: "current", value: Buffer.from(value) });
    },
    current: async () => Buffer.from(versions.find((v) => v.state === "current")!.value),
    read: async (_name: string, version: number) => Buffer.from(versions.find((v) => v.version === version)!.value),
    versions: async () => versions.map(({ version, state }) => ({ name: RECORDING_SIGNING_KEY, version, state })),
  };
  return { secrets: store as unknown as SecretStore, versions, store };
}

async function recordOne(secrets: SecretStore): Promise<{ id: string; keyId: string | null; verify: () => Promise<unknown> }> {
  const node = await openRecorder(loadConfig({ data: dataDir }, {}), silentLogger, { secrets });
  const id = randomUUID();
  const rec = node.recorder.open({
    sessionId: id, protocol: "ssh", grantId: randomUUID(), userId: randomUUID(), userName: "erin", targetId: randomUUID(), targetName: "web-2",
    login: "deploy", clientAddress: "127.0.0.1:1", node: "n1", startedAt: Date.now(), redactParameters: false,
  });
  rec.channelOpen({ channel: 0, type: "exec", pty: null, command: "uptime" });
  rec.output(0, new Uint8Array(Buffer.from(" 10:00:00 up 1 day\n")));
  await rec.end("client closed");
  const report = await node.reader.verify(id);
  await node.close();
  return { id, keyId: report.keyId, verify: async () => {
    const again = await openRecorder(loadConfig({ data: dataDir }, {}), silentLogger, { secrets });
    try {
      return await again.reader.verify(id);
    } finally {
      await again.close();
    }
  } };
}

describe("openRecorder", () => {
  it("signs with a key made once in the vault, and still verifies after the key is replaced", async () => {
    const { secrets, versions, store } = memorySecrets();
    expect(versions).toHaveLength(0);
    const first = await recordOne(secrets);
    expect(versions).toHaveLength(1);
    expect(await first.verify()).toMatchObject({ ok: true, sealed: true, signature: "valid" });
    const second = await recordOne(secrets);
    expect(versions).toHaveLength(1);
    expect(second.keyId).toBe(first.keyId);

    // A new key: new sessions are signed by it, older ones still check against the retired one.
    await store.put(RECORDING_SIGNING_KEY, "private-key", Buffer.from(generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString()));
    const third = await recordOne(secrets);
    expect(third.keyId).not.toBe(first.keyId);
    expect(await first.verify()).toMatchObject({ ok: true, signature: "valid", keyId: first.keyId });
    expect(await third.verify()).toMatchObject({ ok: true, signature: "valid", keyId: third.keyId });
  });

  it("stores unsigned digests without a vault", async () => {
    const node = await openRecorder(loadConfig({ data: dataDir }, {}), silentLogger);
    const id = randomUUID();
    const rec = node.recorder.open({
      sessionId: id, protocol: "http", grantId: "g", userId: "u", userName: "frank", targetId: "t", targetName: "wiki", login: "", clientAddress: "::1",
      node: "n1", startedAt: Date.now(), redactParameters: false,
    });
    rec.http({ method: "GET", path: "/", query: "", status: 200, requestBytes: 0, responseBytes: 10, durationMs: 1 });
    await rec.end("done");
    expect(await node.reader.verify(id)).toMatchObject({ ok: true, sealed: true, signature: "absent", keyId: null });
    expect(await node.reader.list({ userName: "frank" })).toMatchObject([{ sessionId: id, protocol: "http", targetName: "wiki" }]);
    await node.close();
  });
});
