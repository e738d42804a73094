// Terminal replay in the person's own terminal, and asciicast export, fetched page by page
// so a long session neither waits for the whole download nor holds it all in memory.
import { replayFrames, toAsciicast, type TerminalEvent } from "../../../recorder/index.js";
import type { SessionSummary, TerminalPage } from "../../api/sessions-dto.js";
import { enc, type CommandContext } from "../command.js";

const PAGE = 5000;

export async function terminalChannels(ctx: CommandContext, id: string): Promise<number[]> {
  const r = await ctx.api<{ channel: number }[]>("GET", `/api/v1/sessions/${enc(id)}/terminals`);
  return r.map((t) => t.channel);
}

async function* pages(ctx: CommandContext, id: string, channel: number, purpose: "replay" | "export"): AsyncGenerator<TerminalPage> {
  let after = -1;
  for (;;) {
    const page = await ctx.api<TerminalPage>("GET", `/api/v1/sessions/${enc(id)}/terminal?channel=${channel}&afterSeq=${after}&limit=${PAGE}&purpose=${purpose}`);
    yield page;
    if (page.next === null) return;
    after = page.next;
  }
}

const decode = (page: TerminalPage): TerminalEvent[] =>
  page.events.map((e) => ({ ts: e.ts, kind: e.kind, ...(e.data !== undefined ? { data: Buffer.from(e.data, "base64") } : {}), ...(e.cols !== undefined ? { cols: e.cols, rows: e.rows } : {}) }));

export async function exportCast(ctx: CommandContext, session: SessionSummary, channel: number): Promise<string> {
  const events: TerminalEvent[] = [];
  let header: { cols: number; rows: number } | null = null;
  for await (const page of pages(ctx, session.id, channel, "export")) {
    header ??= { cols: page.cols, rows: page.rows };
    events.push(...decode(page));
  }
  return toAsciicast({ cols: header?.cols ?? 80, rows: header?.rows ?? 24, startedAt: Date.parse(session.startedAt), title: `${session.userName} ${session.login}@${session.targetName} ${session.id}` }, events);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function playTerminal(ctx: CommandContext, id: string, channel: number, opts: { speed: number; idleCapMs: number }): Promise<void> {
  let last: TerminalEvent | null = null;
  for await (const page of pages(ctx, id, channel, "replay")) {
    const events = decode(page);
    // Carry the previous page's last moment over, so the first delay of a page is kept.
    const timed = last ? [{ ts: last.ts, kind: "output" as const, data: new Uint8Array(0) }, ...events] : events;
    for (const frame of replayFrames(timed, opts)) {
      if (frame.delayMs > 0) await sleep(frame.delayMs);
      if ("data" in frame && frame.data.length > 0) await new Promise<void>((r) => (process.stdout.write(frame.data) ? r() : process.stdout.once("drain", () => r())));
    }
    last = events.at(-1) ?? last;
  }
  ctx.out("\r\n[jitgate: end of recording]");
}
