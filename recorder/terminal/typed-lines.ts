// What the person typed, rebuilt into lines from the raw bytes of a channel's input: the edits
// a shell's line editor understands (backspace, Ctrl-U, Ctrl-W, Ctrl-K, cursor moves) applied
// to a line buffer, escape sequences (arrows, function keys, terminal replies, bracketed-paste
// markers, mouse reports) removed, and a line given out at Enter or Ctrl-C. History recall
// (up/down) swaps the line for one we cannot see, so the buffer starts over; the recalled
// command still reaches the index as shown text.

/** Longer lines (a paste without newlines) are given out in pieces of this many characters. */
const MAX_LINE_CHARS = 4096;
/** An OSC/DCS string longer than this in input is not a terminal reply: stop swallowing it. */
const MAX_STRING_BYTES = 4096;
const MAX_CSI_PARAMS = 32;

const enum State {
  Ground,
  Escape,
  Csi,
  Ss3,
  String,
  StringEscape,
  Mouse,
}

/** Called per finished line; `text` is empty when Enter was pressed on an empty line. */
export type LineSink = (text: string, offset: number) => void;

export class TypedLineReader {
  private line: string[] = [];
  private cursor = 0;
  private state = State.Ground;
  private params = "";
  private stringBytes = 0;
  private mouseBytes = 0;
  /** The last printable run ended inside a multibyte character, which the decoder holds. */
  private partialChar = false;
  private readonly decoder = new TextDecoder("utf-8");

  /** Feeds bytes whose first one is at input stream `offset`; calls `sink` per finished line. */
  feed(data: Uint8Array, offset: number, sink: LineSink): void {
    let runStart = -1;
    for (let i = 0; i < data.length; i++) {
      const b = data[i] as number;
      if (this.state === State.Ground && (b >= 0x20 && b !== 0x7f)) {
        if (runStart < 0) runStart = i;
        continue;
      }
      if (runStart >= 0) {
        this.insert(this.decoder.decode(data.subarray(runStart, i), { stream: true }), offset + i, sink);
        this.partialChar = (data[i - 1] as number) >= 0x80;
        runStart = -1;
      }
      if (this.partialChar) {
        this.insert(this.decoder.decode(), offset + i, sink);
        this.partialChar = false;
      }
      // A byte that cannot continue the sequence in progress ends it and is read again as typing.
      if (!this.step(b, offset + i, sink)) i--;
    }
    if (runStart >= 0) {
      this.insert(this.decoder.decode(data.subarray(runStart), { stream: true }), offset + data.length, sink);
      this.partialChar = (data[data.length - 1] as number) >= 0x80;
    }
  }

  /** Gives out what was typed without Enter yet (the session is ending). */
  flush(offset: number, sink: LineSink): void {
    if (this.partialChar) this.insert(this.decoder.decode(), offset, sink);
    this.partialChar = false;
    if (this.line.length > 0) this.emit(offset, sink);
  }

  /** Returns false when `b` was not consumed: the state is back to Ground and `b` must be read again. */
  private step(b: number, at: number, sink: LineSink): boolean {
    switch (this.state) {
      case State.Ground:
        this.control(b, at, sink);
        return true;
      case State.Escape:
        return this.escape(b);
      case State.Csi:
        if (b >= 0x40 && b <= 0x7e) {
          this.state = State.Ground;
          this.csi(b);
        } else if (b >= 0x20 && b <= 0x3f) {
          if (this.params.length < MAX_CSI_PARAMS) this.params += String.fromCharCode(b);
        } else {
          this.state = State.Ground;
          return false;
        }
        return true;
      case State.Ss3:
        this.state = State.Ground;
        if (b < 0x40 || b > 0x7e) return false;
        this.cursorKey(String.fromCharCode(b), 1);
        return true;
      case State.String:
        if (b === 0x07 || b === 0x18 || b === 0x1a || ++this.stringBytes > MAX_STRING_BYTES) this.state = State.Ground;
        else if (b === 0x1b) this.state = State.StringEscape;
        return true;
      case State.StringEscape:
        this.state = b === 0x5c ? State.Ground : State.String;
        return true;
      case State.Mouse:
        if (--this.mouseBytes <= 0) this.state = State.Ground;
        return true;
    }
  }

  private control(b: number, at: number, sink: LineSink): void {
    switch (b) {
      case 0x0d: // Enter; the LF of a CRLF then finds an empty line and gives out nothing
      case 0x0a:
        return this.emit(at, sink);
      case 0x03: // Ctrl-C: the line is abandoned, but it was typed
        return this.emit(at, sink);
      case 0x1b:
        this.state = State.Escape;
        return;
      case 0x08:
      case 0x7f:
        return this.deleteBack(1);
      case 0x04: // Ctrl-D deletes forward on a non-empty line
        return this.deleteForward();
      case 0x15: // Ctrl-U
        this.line.splice(0, this.cursor);
        this.cursor = 0;
        return;
      case 0x0b: // Ctrl-K
        this.line.length = this.cursor;
        return;
      case 0x17: // Ctrl-W: back over spaces, then over the word
        return this.deleteBack(this.cursor - this.wordStart(/\s/));
      case 0x01:
        return this.cursorKey("H", 1);
      case 0x05:
        return this.cursorKey("F", 1);
      case 0x02:
        return this.cursorKey("D", 1);
      case 0x06:
        return this.cursorKey("C", 1);
      case 0x10:
        return this.cursorKey("A", 1);
      case 0x0e:
        return this.cursorKey("B", 1);
    }
  }

  private escape(b: number): boolean {
    this.state = State.Ground;
    if (b === 0x5b) {
      this.state = State.Csi;
      this.params = "";
    } else if (b === 0x4f) {
      this.state = State.Ss3;
    } else if (b === 0x5d || b === 0x50 || b === 0x58 || b === 0x5e || b === 0x5f) {
      this.state = State.String;
      this.stringBytes = 0;
    } else if (b === 0x62) {
      this.cursor = this.wordStart(/[^\p{L}\p{N}_]/u); // Alt-b
    } else if (b === 0x66) {
      this.cursor = this.wordEnd(); // Alt-f
    } else if (b === 0x7f || b === 0x08) {
      this.deleteBack(this.cursor - this.wordStart(/[^\p{L}\p{N}_]/u)); // Alt-Backspace
    } else if (b < 0x20 || b >= 0x80) {
      return false; // not a sequence after all: Escape alone, then this byte
    }
    // any other printable: an Alt-chord, nothing typed
    return true;
  }

  private csi(final: number): void {
    const params = this.params;
    const ch = String.fromCharCode(final);
    if (ch === "M" && params === "") {
      this.state = State.Mouse; // X10 mouse report: three raw bytes follow
      this.mouseBytes = 3;
      return;
    }
    if (!/^[0-9;]*$/.test(params)) return; // private replies (?…c, >…c, <…M) and the like
    const [first, modifier] = params.split(";").map((p) => (p === "" ? 1 : Number(p)));
    if (ch === "~") {
      if (first === 1 || first === 7) this.cursorKey("H", 1);
      else if (first === 4 || first === 8) this.cursorKey("F", 1);
      else if (first === 3) this.deleteForward();
      return; // 200~/201~ bracket a paste whose bytes arrive as typing
    }
    this.cursorKey(ch, modifier ?? 1);
  }

  private cursorKey(key: string, modifier: number): void {
    const byWord = modifier >= 2;
    switch (key) {
      case "A":
      case "B":
        this.line = [];
        this.cursor = 0;
        return;
      case "C":
        this.cursor = byWord ? this.wordEnd() : Math.min(this.line.length, this.cursor + 1);
        return;
      case "D":
        this.cursor = byWord ? this.wordStart(/[^\p{L}\p{N}_]/u) : Math.max(0, this.cursor - 1);
        return;
      case "H":
        this.cursor = 0;
        return;
      case "F":
        this.cursor = this.line.length;
        return;
    }
  }

  /** Where the word before the cursor starts, words being separated by `separator`. */
  private wordStart(separator: RegExp): number {
    let i = this.cursor;
    while (i > 0 && separator.test(this.line[i - 1] as string)) i--;
    while (i > 0 && !separator.test(this.line[i - 1] as string)) i--;
    return i;
  }

  private wordEnd(): number {
    const separator = /[^\p{L}\p{N}_]/u;
    let i = this.cursor;
    while (i < this.line.length && separator.test(this.line[i] as string)) i++;
    while (i < this.line.length && !separator.test(this.line[i] as string)) i++;
    return i;
  }

  private deleteBack(count: number): void {
    const n = Math.min(count, this.cursor);
    if (n <= 0) return;
    this.line.splice(this.cursor - n, n);
    this.cursor -= n;
  }

  private deleteForward(): void {
    if (this.cursor < this.line.length) this.line.splice(this.cursor, 1);
  }

  private insert(text: string, at: number, sink: LineSink): void {
    for (const ch of text) {
      if (this.cursor === this.line.length) this.line.push(ch);
      else this.line.splice(this.cursor, 0, ch);
      this.cursor++;
      if (this.line.length >= MAX_LINE_CHARS) this.emit(at, sink);
    }
  }

  private emit(at: number, sink: LineSink): void {
    const text = this.line.join("").trim();
    this.line = [];
    this.cursor = 0;
    sink(text, at);
  }
}
