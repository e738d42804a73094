// Watching a live session: the screen first, then the tail, spliced by byte offset with no
// gap and no duplicate while the session keeps writing; SQL sessions stream their statements.
import { afterAll, describe, expect, it } from "vitest";
import { createRecorder, RecordingReader, type Keyframe, type LiveMessage } from "../recorder/index.js";
import { closeEmbedded, embedded, freshDatabase, keptLogger, sessionStart, tempDir } from "./recorder-kit.js";

afterAll(closeEmbedded);

const tick = () => new Promise((r) => setImmediate(r));

async function setup() {
  const { ch } = await embedded();
  const database = freshDatabase();
  const recorder = await createRecorder({ client: ch.client, database, logger: keptLogger(), spoolDir: tempDir(), localInsertDir: tempDir(), limits: { flushMs: 50 } });
  const reader = new RecordingReader({ client: ch.client, database, recorder });
  return { recorder, reader };
}

interface Watched {
  messages: LiveMessage[];
  before: number;
  lastLine: string;
}

describe("live watching", () => {
  it("splices the live tail onto the screen with no gap and no duplicate under concurrent writes", async () => {
    const { recorder, reader } = await setup();
    const s = sessionStart();
    const rec = recorder.open(s);
    rec.channelOpen({ channel: 0, type: "shell", pty: { term: "xterm", cols: 100, rows: 30 }, command: null });
    const written: Buffer[] = [];
    let total = 0;
    const watchers: Watched[] = [];
    for (let i = 0; i < 3000; i++) {
      const lastLine = `line ${String(i).padStart(5, "0")} ${"=".repeat(i % 40)}`;
      // Lines cut anywhere, escape sequences included, so the splice falls inside chunks.
      const bytes = Buffer.from(`\x1b[32m${lastLine}\x1b[0m\r\n`);
      const cut = i % 5;
      for (const piece of [bytes.subarray(0, cut), bytes.subarray(cut)]) {
        if (piece.length === 0) continue;
        rec.output(0, piece);
        written.push(piece);
        total += piece.length;
      }
      if (i % 400 === 17) {
        const w: Watched = { messages: [], before: total, lastLine };
        const sub = reader.watch(s.sessionId, (m) => w.messages.push(m));
        expect(sub).toMatchObject({ sessionId: s.sessionId, channel: 0 });
        watchers.push(w);
      }
      if (i % 3 === 0) await tick();
    }
    await rec.end("client disconnected");
    const stream = Buffer.concat(written);
    expect(watchers.length).toBeGreaterThanOrEqual(7);
    for (const w of watchers) {
      const [first, ...rest] = w.messages;
      expect(first?.type).toBe("snapshot");
      const keyframe = (first as { keyframe: Keyframe }).keyframe;
      expect(keyframe.offset).toBe(w.before);
      expect(keyframe.screen).toContain(w.lastLine);
      let offset = keyframe.offset;
      const tail: Buffer[] = [];
      for (const m of rest) {
        if (m.type !== "event" || m.event.kind !== "output") continue;
        expect(m.event.offset).toBe(offset);
        offset += m.event.data.length;
        tail.push(Buffer.from(m.event.data));
      }
      expect(Buffer.concat(tail).equals(stream.subarray(keyframe.offset))).toBe(true);
      expect(rest.at(-1)).toEqual({ type: "end", reason: "client disconnected" });
    }
    expect(reader.watch(s.sessionId, () => {})).toBeNull();
  });

  it("streams a SQL session's statements, stops at unsubscribe, and drops a viewer that throws", async () => {
    const { recorder, reader } = await setup();
    const s = sessionStart({ protocol: "postgres" });
    const rec = recorder.open(s);
    const seen: LiveMessage[] = [];
    const later: LiveMessage[] = [];
    const sub = reader.watch(s.sessionId, (m) => seen.push(m));
    reader.watch(s.sessionId, () => {
      throw new Error("viewer went away");
    });
    expect(sub?.channel).toBeNull();
    const statement = (text: string) => rec.sql({ text, params: null, durationMs: 1, tag: "SELECT 1", rows: 1, sqlstate: null, error: null, stage: null });
    statement("SELECT 1");
    statement("SELECT 2");
    sub?.unsubscribe();
    reader.watch(s.sessionId, (m) => later.push(m));
    statement("SELECT 3");
    await rec.end("done");
    expect(seen.map((m) => (m.type === "event" && m.event.kind === "sql" ? m.event.sql.text : m.type))).toEqual(["SELECT 1", "SELECT 2"]);
    expect(later.map((m) => (m.type === "event" ? m.event.kind : m.type))).toEqual(["sql", "end", "end"]);
    expect((await reader.events(s.sessionId, { kinds: ["sql"] })).events).toHaveLength(3);
  });
});
