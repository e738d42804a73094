// In-memory stand-ins for the vault's rotation ports, with the same contract as the real
// store: one pending version at a time, only a pending version can be promoted or discarded,
// promoting retires the current one.
import { expect } from "vitest";
import { VaultError, type RotationEntry, type RotationLog, type RotationSecrets } from "../../vault/index.js";

export type State = "current" | "pending" | "retired" | "discarded";
interface Version {
  version: number;
  state: State;
  value: Buffer;
}

export class FakeSecrets implements RotationSecrets {
  readonly #secrets = new Map<string, Version[]>();
  /** Every plaintext that passed through, to prove none of them leaked anywhere. */
  readonly seen: string[] = [];
  failPromoteOnce = false;

  seed(name: string, value: string): void {
    this.seen.push(value);
    this.#secrets.set(name, [{ version: 1, state: "current", value: Buffer.from(value) }]);
  }

  states(name: string): [number, State][] {
    return (this.#secrets.get(name) ?? []).map((v) => [v.version, v.state]);
  }

  value(name: string, state: State): string {
    const v = (this.#secrets.get(name) ?? []).find((x) => x.state === state);
    if (!v) throw new Error(`${name} has no ${state} version`);
    return v.value.toString();
  }

  async current(name: string): Promise<Buffer> {
    const v = this.#secrets.get(name)?.find((x) => x.state === "current");
    if (!v) throw new VaultError("VAULT_SECRET_NOT_FOUND", "not-found", `secret ${name} has no current version`);
    return Buffer.from(v.value);
  }

  async putPending(name: string, kind: "password", value: Buffer, actor: string, reason: string): Promise<number> {
    expect(kind).toBe("password");
    expect(actor).not.toBe("");
    expect(reason).not.toBe("");
    const list = this.#secrets.get(name) ?? [];
    if (list.some((v) => v.state === "pending")) throw new VaultError("VAULT_PENDING_EXISTS", "conflict", `${name} already has a pending version`);
    const version = list.length + 1;
    this.seen.push(value.toString());
    list.push({ version, state: "pending", value: Buffer.from(value) });
    this.#secrets.set(name, list);
    return version;
  }

  async promote(name: string, version: number): Promise<void> {
    if (this.failPromoteOnce) {
      this.failPromoteOnce = false;
      throw new Error("injected: the process died between change and promote");
    }
    const v = this.#pendingVersion(name, version);
    for (const other of this.#secrets.get(name) ?? []) if (other.state === "current") other.state = "retired";
    v.state = "current";
  }

  async discard(name: string, version: number): Promise<void> {
    this.#pendingVersion(name, version).state = "discarded";
  }

  async pending(name: string): Promise<{ version: number; value: Buffer } | null> {
    const v = this.#secrets.get(name)?.find((x) => x.state === "pending");
    return v ? { version: v.version, value: Buffer.from(v.value) } : null;
  }

  #pendingVersion(name: string, version: number): Version {
    const v = this.#secrets.get(name)?.find((x) => x.version === version);
    if (v?.state !== "pending") throw new VaultError("VAULT_NOT_PENDING", "conflict", `${name} v${version} is not pending`);
    return v;
  }
}

export class FakeLog implements RotationLog {
  readonly entries: RotationEntry[] = [];
  constructor(private readonly onRecord: (entry: RotationEntry) => void = () => {}) {}
  async record(entry: RotationEntry): Promise<void> {
    this.onRecord(entry);
    this.entries.push(entry);
  }
}
