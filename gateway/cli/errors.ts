// CLI failures and their exit codes: 2 for a command line that is wrong, 1 for everything
// that went wrong after it was understood.
export class UsageError extends Error {
  readonly code = "USAGE";
  readonly exitCode = 2;
}

export class CliError extends Error {
  readonly exitCode = 1;
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}
