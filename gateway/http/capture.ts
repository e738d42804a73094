// Optional capture of request and response bodies into the recording: text only, cut to
// the configured size, and with the values of named fields (password, token, ...)
// replaced before anything is stored.

const TEXTUAL = /^(text\/|application\/(json|x-www-form-urlencoded|xml|javascript|graphql)|application\/[a-z0-9.+-]+\+(json|xml))/i;

/** Collects up to `limit` bytes of a body that passes through. */
export class BodyCapture {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(private readonly limit: number) {}

  add(chunk: Buffer): void {
    if (this.size >= this.limit) {
      this.truncated ||= chunk.length > 0;
      return;
    }
    const part = chunk.length > this.limit - this.size ? chunk.subarray(0, this.limit - this.size) : chunk;
    if (part.length < chunk.length) this.truncated = true;
    this.chunks.push(Buffer.from(part));
    this.size += part.length;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}

/** What goes into the recording for a captured body, or undefined when nothing should. */
export function capturedBody(capture: BodyCapture | null, contentType: string | undefined, fields: readonly string[]): string | undefined {
  if (!capture) return undefined;
  const type = contentType ?? "";
  if (!TEXTUAL.test(type)) return undefined;
  const text = redactBody(capture.text(), type, fields);
  return capture.truncated ? `${text}…[cut]` : text;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Replaces the values of the named fields. Form bodies by field name; everything else
 * (JSON, possibly cut mid-way so not parseable, or XML-ish text) by a pattern on
 * "name": value and name=value, which also catches a cut JSON document.
 */
export function redactBody(text: string, contentType: string, fields: readonly string[]): string {
  if (fields.length === 0 || text.length === 0) return text;
  const names = fields.map(escape).join("|");
  if (/^application\/x-www-form-urlencoded/i.test(contentType)) {
    return text
      .split("&")
      .map((pair) => {
        const eq = pair.indexOf("=");
        let key: string;
        try {
          key = decodeURIComponent((eq < 0 ? pair : pair.slice(0, eq)).replace(/\+/g, " "));
        } catch {
          key = pair;
        }
        return fields.some((f) => f.toLowerCase() === key.toLowerCase()) ? `${pair.slice(0, eq < 0 ? pair.length : eq)}=[redacted]` : pair;
      })
      .join("&");
  }
  const json = new RegExp(`("(?:${names})"\\s*:\\s*)("(?:[^"\\\\]|\\\\.)*("|$)|[^,}\\]\\s]+)`, "gi");
  const assign = new RegExp(`(\\b(?:${names})=)[^&\\s"'<]*`, "gi");
  return text.replace(json, '$1"[redacted]"').replace(assign, "$1[redacted]");
}
