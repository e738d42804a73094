// The PostgreSQL wire format (protocol 3.0): the messages the gateway writes as a server,
// and reading C strings. Each builder returns one Buffer with its type byte and length.
export const PROTOCOL_3_0 = 196608;
export const SSL_REQUEST = 80877103;
export const GSSENC_REQUEST = 80877104;
export const CANCEL_REQUEST = 80877102;

/** A message of `type` whose body is `body` (type byte, int32 length, body). */
export function message(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = type.charCodeAt(0);
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

const cstr = (s: string) => Buffer.from(`${s}\0`, "utf8");

function int32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeInt32BE(n | 0, 0);
  return b;
}

export interface ErrorFields {
  severity: "FATAL" | "ERROR";
  sqlstate: string;
  message: string;
  detail?: string;
  hint?: string;
}

export function errorResponse(e: ErrorFields): Buffer {
  const parts = [
    Buffer.from("S"), cstr(e.severity), Buffer.from("V"), cstr(e.severity),
    Buffer.from("C"), cstr(e.sqlstate), Buffer.from("M"), cstr(e.message),
  ];
  if (e.detail) parts.push(Buffer.from("D"), cstr(e.detail));
  if (e.hint) parts.push(Buffer.from("H"), cstr(e.hint));
  parts.push(Buffer.from([0]));
  return message("E", Buffer.concat(parts));
}

export const authOk = () => message("R", int32(0));
export const authCleartext = () => message("R", int32(3));
export const authSasl = (mechanisms: string[]) => message("R", Buffer.concat([int32(10), ...mechanisms.map(cstr), Buffer.from([0])]));
export const authSaslContinue = (data: string) => message("R", Buffer.concat([int32(11), Buffer.from(data, "utf8")]));
export const authSaslFinal = (data: string) => message("R", Buffer.concat([int32(12), Buffer.from(data, "utf8")]));
export const backendKeyData = (pid: number, secret: number) => message("K", Buffer.concat([int32(pid), int32(secret)]));
export const readyForQuery = (status: "I" | "T" | "E") => message("Z", Buffer.from(status));

/** Tells a client asking for a newer minor version (or unknown `_pq_.` options) what this server speaks. */
export function negotiateProtocolVersion(minor: number, unsupported: string[]): Buffer {
  return message("v", Buffer.concat([int32(minor), int32(unsupported.length), ...unsupported.map(cstr)]));
}

/** The frontend's CancelRequest for a backend key. */
export function cancelRequest(pid: number, secret: number): Buffer {
  const b = Buffer.allocUnsafe(16);
  b.writeInt32BE(16, 0);
  b.writeInt32BE(CANCEL_REQUEST, 4);
  b.writeInt32BE(pid | 0, 8);
  b.writeInt32BE(secret | 0, 12);
  return b;
}

/** The string at `offset` up to its NUL, and where the next field starts; null when there is no NUL. */
export function readCString(buf: Buffer, offset: number): { value: string; next: number } | null {
  const end = buf.indexOf(0, offset);
  if (end < 0) return null;
  return { value: buf.toString("utf8", offset, end), next: end + 1 };
}

/** The fields of an ErrorResponse or NoticeResponse body by their one-letter codes. */
export function parseErrorFields(body: Buffer): Map<string, string> {
  const fields = new Map<string, string>();
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const code = String.fromCharCode(body[i] ?? 0);
    const s = readCString(body, i + 1);
    if (!s) break;
    fields.set(code, s.value);
    i = s.next;
  }
  return fields;
}
