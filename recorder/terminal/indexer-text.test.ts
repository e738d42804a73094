import { describe, expect, it } from "vitest";
import { TerminalIndexer } from "./indexer.js";
import type { TextHit } from "./model.js";
import { createScreen, screenRows } from "./xterm.js";

const enc = (s: string) => new TextEncoder().encode(s);

/** Drives one channel as a session would: output and input with their own offsets. */
function channel(cols: number, rows: number) {
  const ix = new TerminalIndexer({ cols, rows });
  const written: Uint8Array[] = [];
  let out = 0;
  let inp = 0;
  return {
    ix,
    output(ts: number, s: string) {
      const d = enc(s);
      ix.output(ts, out, d);
      written.push(d);
      out += d.length;
    },
    input(ts: number, s: string) {
      const d = enc(s);
      ix.input(ts, inp, d);
      inp += d.length;
    },
    /** Output bytes given so far. */
    bytes: () => new Uint8Array(Buffer.concat(written)),
    async hits(ts = 1e9): Promise<TextHit[]> {
      await ix.finish(ts);
      return ix.take().text;
    },
  };
}

const find = (hits: TextHit[], source: "typed" | "shown", needle: string) => hits.filter((h) => h.source === source && h.text.includes(needle));

describe("searchable text", () => {
  it("finds DROP TABLE where it was typed, with backspaces, at the moment of Enter", async () => {
    const c = channel(80, 24);
    c.output(1000, "$ ");
    c.input(2000, "psql\r");
    c.output(2001, "psql\r\nbilling=# ");
    c.input(3000, "DROP TABLX");
    c.input(3100, "\x7fE invoices;");
    c.input(3200, "\r");
    c.output(3201, "DROP TABLE invoices;\r\nDROP TABLE\r\nbilling=# ");
    const hits = await c.hits();
    expect(find(hits, "typed", "DROP TABLE")).toEqual([{ ts: 3200, offset: 5 + 10 + 12, source: "typed", text: "DROP TABLE invoices;" }]);
    expect(find(hits, "typed", "psql")).toEqual([{ ts: 2000, offset: 4, source: "typed", text: "psql" }]);
  });

  it("finds every line of output that scrolled by, at a moment it was on screen", async () => {
    const c = channel(80, 24);
    let text = "$ cat schema.sql\r\n";
    for (let i = 0; i < 2000; i++) text += i === 1234 ? "DROP TABLE audit_log;\r\n" : `-- line ${i} of the schema\r\n`;
    text += "$ ";
    const bytes = enc(text);
    // Chunks smaller than a screenful, as a pty hands them over.
    for (let off = 0, ts = 0; off < bytes.length; off += 256, ts++) c.ix.output(ts, off, bytes.subarray(off, off + 256));
    const hits = await c.hits();
    const shown = hits.filter((h) => h.source === "shown");
    for (let i = 0; i < 2000; i++) {
      if (i !== 1234) expect(shown.filter((h) => h.text === `-- line ${i} of the schema`), `line ${i}`).toHaveLength(1);
    }
    const [drop] = find(hits, "shown", "DROP TABLE");
    expect(drop?.text).toBe("DROP TABLE audit_log;");
    const screen = createScreen(80, 24, 0);
    screen.parse(bytes.subarray(0, drop?.offset));
    expect(screenRows(screen.term)).toContain("DROP TABLE audit_log;");
    expect(drop?.ts).toBe(Math.floor((drop?.offset ?? 0) / 256));
  });

  it("finds text shown and then cleared, or shown on the alternate screen of a pager", async () => {
    const c = channel(80, 24);
    c.output(0, "$ cat notes\r\nplan: DROP TABLE staging;\r\n$ clear\r\n");
    c.output(10, "\x1b[H\x1b[2J\x1b[3J$ less report\r\n");
    c.output(20, "\x1b[?1049h\x1b[H\x1b[2Jreport: TRUNCATE ledger;\r\n~\r\n~\r\n(END)");
    c.output(30, "\x1b[?1049l\r$ ");
    const hits = await c.hits();
    expect(find(hits, "shown", "DROP TABLE").map((h) => h.text)).toEqual(["plan: DROP TABLE staging;"]);
    expect(find(hits, "shown", "TRUNCATE").map((h) => h.text)).toEqual(["report: TRUNCATE ledger;"]);
  });

  it("indexes a line that stays on screen once, however often the screen is read", async () => {
    const c = channel(40, 5);
    c.output(0, "STATUS: all good\r\n");
    for (let i = 0; i < 50; i++) {
      // A clock redrawn in place every 2 s: every output is a keyframe and a settled screen.
      c.output(2000 * (i + 1), `\x1b[2;1Htick ${i}`);
      c.input(2000 * (i + 1) + 500, "\r");
    }
    const hits = await c.hits();
    expect(find(hits, "shown", "STATUS")).toHaveLength(1);
    expect(find(hits, "shown", "tick 7")).toHaveLength(1);
  });

  it("joins a line the terminal wrapped, so a phrase across the wrap is found", async () => {
    const c = channel(20, 4);
    c.output(0, "0123456789abcd DROP TABLE wrapped_over_two_rows;\r\n");
    c.output(1, "x\r\n".repeat(10));
    const viaScroll = find(await c.hits(), "shown", "DROP TABLE");
    expect(viaScroll.map((h) => h.text)).toEqual(["0123456789abcd DROP TABLE wrapped_over_two_rows;"]);

    const d = channel(20, 4);
    d.output(0, "0123456789abcd DROP TABLE on_screen;\r\n$ ");
    expect(find(await d.hits(), "shown", "DROP TABLE").map((h) => h.text)).toEqual(["0123456789abcd DROP TABLE on_screen;"]);
  });

  it("reads a screen that sat still before output resumed, leaving out the line being typed", async () => {
    const c = channel(80, 24);
    c.output(0, "Reading package lists... Done\r\n$ ");
    c.output(5000, "s");
    const early = c.ix.take(); // nothing is parsed before the queue runs
    expect(early.text).toEqual([]);
    await c.ix.snapshot();
    const hits = c.ix.take().text;
    expect(hits.map((h) => [h.ts, h.text])).toEqual([[0, "Reading package lists... Done"]]);
  });

  it("does not index what was typed at a password prompt", async () => {
    const c = channel(80, 24);
    c.output(0, "$ ");
    c.input(1, "sudo -i\r");
    c.output(2, "sudo -i\r\n[sudo] password for alice: ");
    c.input(3, "hunter2\r");
    c.output(4, "\r\nroot# ");
    c.input(5, "id\r");
    const hits = await c.hits();
    expect(hits.filter((h) => h.text.includes("hunter2"))).toEqual([]);
    expect(hits.filter((h) => h.source === "typed").map((h) => h.text)).toEqual(["sudo -i", "id"]);
  });

  it("gives plain trimmed text, never escape sequences or empty lines", async () => {
    const c = channel(40, 6);
    c.output(0, "\x1b[1;31m  red alert  \x1b[0m\r\n\r\n   \r\n\x1b]0;title\x07\x1b[7minverse\x1b[m\r\n");
    const hits = await c.hits();
    expect(hits.map((h) => h.text)).toEqual(["red alert", "inverse"]);
  });
});
