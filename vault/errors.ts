// Every failure the vault reports carries a stable code; `kind` tells a transport how to
// present it. Messages never contain a secret value.
export type VaultErrorKind = "invalid" | "forbidden" | "not-found" | "conflict" | "unavailable" | "corrupt" | "locked";

export class VaultError extends Error {
  readonly code: string;
  readonly kind: VaultErrorKind;
  constructor(code: string, kind: VaultErrorKind, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "VaultError";
    this.code = code;
    this.kind = kind;
  }
}
