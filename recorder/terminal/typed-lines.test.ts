import { describe, expect, it } from "vitest";
import { TypedLineReader } from "./typed-lines.js";

const enc = (s: string) => new TextEncoder().encode(s);

/** Lines read from the given chunks, fed one after another as the keys arrived. */
function typed(...chunks: (string | Uint8Array)[]): { text: string; offset: number }[] {
  const reader = new TypedLineReader();
  const lines: { text: string; offset: number }[] = [];
  let offset = 0;
  for (const chunk of chunks) {
    const bytes = typeof chunk === "string" ? enc(chunk) : chunk;
    reader.feed(bytes, offset, (text, at) => text && lines.push({ text, offset: at }));
    offset += bytes.length;
  }
  reader.flush(offset, (text, at) => text && lines.push({ text, offset: at }));
  return lines;
}
const texts = (...chunks: (string | Uint8Array)[]) => typed(...chunks).map((l) => l.text);

describe("typed lines", () => {
  it("end at Enter, with the offset of the Enter key", () => {
    expect(typed("ls -l\r", "psql\r")).toEqual([
      { text: "ls -l", offset: 5 },
      { text: "psql", offset: 10 },
    ]);
  });

  it("are typed one key at a time as well as pasted whole", () => {
    expect(texts(..."DROP TABLE users;\r".split(""))).toEqual(["DROP TABLE users;"]);
  });

  it("apply backspace and DEL", () => {
    expect(texts("DROP TABLX\x7fE users;\r", "selecc\bt 1\r")).toEqual(["DROP TABLE users;", "select 1"]);
  });

  it("apply Ctrl-U, Ctrl-W and Ctrl-K", () => {
    expect(texts("rm -rf /\x15ls\r", "echo wrong words\x17\x17right\r", "abcdef\x1b[D\x1b[D\x1b[D\x0b\r")).toEqual(["ls", "echo right", "abc"]);
  });

  it("insert where the cursor was moved with arrows, Home and End", () => {
    expect(texts("TABLE x\x1b[H", "DROP \x1b[F;\r", "selct\x1b[D\x1b[De\r", "ab\x01X\x05Y\r")).toEqual(["DROP TABLE x;", "select", "XabY"]);
  });

  it("end at Ctrl-C, which keeps what was typed", () => {
    expect(typed("DROP TABLE users\x03", "ls\r")).toEqual([
      { text: "DROP TABLE users", offset: 16 },
      { text: "ls", offset: 19 },
    ]);
  });

  it("leave out escape sequences: arrows, function keys, terminal replies, paste markers, mouse reports", () => {
    expect(
      texts(
        "\x1b[200~DROP TABLE a;\x1b[201~\r",
        "\x1bOA\x1b[1;5C\x1b[15~\x1b[?1;2c\x1b]11;rgb:0000/0000/0000\x1b\\\x1b[<0;10;5M\x1b[M !!ok\r",
        "\x1b[I\x1b[Ofocus\r",
      ),
    ).toEqual(["DROP TABLE a;", "ok", "focus"]);
  });

  it("split a pasted block into its lines", () => {
    expect(texts("\x1b[200~one\rtwo\r\nthree\x1b[201~\r")).toEqual(["one", "two", "three"]);
  });

  it("start over after history recall, whose line is not visible in the input", () => {
    expect(texts("partial\x1b[A\r", "\x1b[Bnew\r")).toEqual(["new"]);
  });

  it("keep a character split across chunks, and turn invalid bytes into U+FFFD", () => {
    const snowman = enc("☃");
    expect(texts(new Uint8Array([0x61, snowman[0] as number]), new Uint8Array([snowman[1] as number, snowman[2] as number, 0x0d]))).toEqual(["a☃"]);
    expect(texts(new Uint8Array([0x61, 0xff, 0x62, 0xe2, 0x0d]))).toEqual(["a\ufffdb\ufffd"]);
  });

  it("keep an escape sequence split across chunks out", () => {
    expect(texts("ab\x1b", "[", "Dc\r")).toEqual(["acb"]);
  });

  it("tell of Enter on an empty line, as a moment the screen was looked at", () => {
    const seen: [string, number][] = [];
    new TypedLineReader().feed(enc("\r\x7f\r"), 0, (text, at) => seen.push([text, at]));
    expect(seen).toEqual([
      ["", 0],
      ["", 2],
    ]);
  });

  it("give out an unfinished line at the end, and a huge one in pieces", () => {
    expect(texts("exit")).toEqual(["exit"]);
    const long = texts("x".repeat(10_000) + "\r");
    expect(long.join("")).toBe("x".repeat(10_000));
    expect(long.length).toBeGreaterThan(1);
  });
});
