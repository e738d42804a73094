// Every failure the control plane reports carries a stable code; `kind` tells a transport
// (HTTP, CLI) how to present it without the library knowing about either.
export type ErrorKind =
  | "invalid"
  | "unauthenticated"
  | "forbidden"
  | "not-found"
  | "conflict"
  | "throttled"
  | "gone";

export class ControlError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: string, kind: ErrorKind, message: string, details?: Record<string, unknown>, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "ControlError";
    this.code = code;
    this.kind = kind;
    this.details = details;
  }
}

export const invalid = (code: string, message: string, details?: Record<string, unknown>) =>
  new ControlError(code, "invalid", message, details);
export const notFound = (code: string, message: string) => new ControlError(code, "not-found", message);
export const forbidden = (code: string, message: string) => new ControlError(code, "forbidden", message);
export const conflict = (code: string, message: string) => new ControlError(code, "conflict", message);
export const unauthenticated = (code: string, message: string) => new ControlError(code, "unauthenticated", message);

/** One position in a YAML file, for validation errors that name file, line and field. */
export interface SourcePosition {
  file: string;
  line: number;
  column: number;
  field: string;
}

export class ValidationError extends ControlError {
  readonly problems: (SourcePosition & { message: string })[];
  constructor(problems: (SourcePosition & { message: string })[]) {
    const lines = problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.field}: ${p.message}`);
    super("INVALID_FILE", "invalid", lines.join("\n"), { problems });
    this.problems = problems;
  }
}
