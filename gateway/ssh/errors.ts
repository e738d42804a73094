// Why the SSH engine turned a client away or could not reach a target. The code is stable
// (logs and audit records carry it); the message says what to do next.
export type SshErrorCode =
  | "SSH_BAD_USER_NAME"
  | "SSH_NO_CERTIFICATE"
  | "SSH_BAD_CERTIFICATE"
  | "SSH_BAD_SIGNATURE"
  | "SSH_NO_GRANT"
  | "SSH_NOT_SSH_TARGET"
  | "SSH_UPSTREAM_AUTH"
  | "SSH_UPSTREAM_HOST_KEY"
  | "SSH_UPSTREAM_UNREACHABLE"
  | "SSH_UPSTREAM_CREDENTIAL"
  | "SSH_HANDSHAKE_TIMEOUT"
  | "SSH_PROTOCOL";

export class SshEngineError extends Error {
  constructor(
    readonly code: SshErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "SshEngineError";
  }
}

export class SshListenError extends Error {
  readonly code = "LISTEN_FAILED";
}
