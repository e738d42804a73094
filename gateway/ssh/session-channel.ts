// One client session channel relayed to one upstream channel: the pty request and its
// terminal modes, allowed environment variables, window changes, signals, then a shell, an
// exec or the sftp subsystem, with the bytes recorded both ways and backpressure honoured
// (the recorder and either side may ask the other to wait).
import type { Readable, Writable } from "node:stream";
import type ssh2 from "ssh2";
import type { SessionRecording } from "../../recorder/index.js";
import { SftpLog } from "./sftp-log.js";

// Larger windows are a client trying its luck, not a terminal.
const MAX_TERMINAL_CELLS = 10_000;
const MAX_PIXELS = 1 << 20;

export interface ChannelHost {
  readonly recording: SessionRecording;
  readonly upstream: ssh2.Client;
  /** Environment variable names (or prefixes ending in *) a client may pass on. */
  readonly envAllowed: string[];
  readonly forwarding: boolean;
  /** True once the grant ended: no new shells, execs or subsystems. */
  readonly closing: boolean;
  /** A refused request worth an audit record (the session itself goes on). */
  refuse(reason: string): void;
  track(relay: SessionRelay): () => void;
}

type Pty = ssh2.PseudoTtyInfo;

function envAllowed(name: string, allowed: string[]): boolean {
  return allowed.some((a) => (a.endsWith("*") ? name.startsWith(a.slice(0, -1)) : name === a));
}

function saneWindow(w: { cols: number; rows: number; width: number; height: number }): boolean {
  // Zero is allowed: RFC 4254 lets a client leave the size to the pixel fields (or unknown).
  return w.cols >= 0 && w.rows >= 0 && w.cols <= MAX_TERMINAL_CELLS && w.rows <= MAX_TERMINAL_CELLS && w.width <= MAX_PIXELS && w.height <= MAX_PIXELS;
}

/**
 * Copies from → to. Whoever cannot keep up (the destination's buffer, or the recorder when
 * note() returns false) pauses the source until it can.
 */
function pump(from: Readable, to: Writable, note: (d: Buffer) => boolean, recording: SessionRecording): void {
  let holds = 0;
  const hold = () => {
    if (holds++ === 0) from.pause();
  };
  const release = () => {
    if (--holds === 0) from.resume();
  };
  from.on("data", (d: Buffer) => {
    if (!note(d)) {
      hold();
      void recording.waitWritable().then(release);
    }
    if (!to.write(d)) {
      hold();
      to.once("drain", release);
    }
  });
}

export class SessionRelay {
  private pty: Pty | null = null;
  private readonly env: Record<string, string> = {};
  private down: ssh2.ServerChannel | null = null;
  private up: ssh2.ClientChannel | null = null;
  private kind: "shell" | "exec" | "subsystem" | null = null;
  private exit: { code: number | null; signal: string | null; dump: boolean; desc: string } = { code: null, signal: null, dump: false, desc: "" };
  private closed = false;

  constructor(
    private readonly host: ChannelHost,
    private readonly session: ssh2.Session,
    readonly channel: number,
  ) {
    session.on("pty", (accept, reject, info) => {
      if (!saneWindow(info)) {
        host.refuse(`pty of ${info.cols}x${info.rows} refused`);
        return reject?.();
      }
      this.pty = info;
      accept?.();
    });
    session.on("env", (accept, reject, info) => {
      if (!envAllowed(info.key, host.envAllowed) || Object.keys(this.env).length >= 64) return reject?.();
      this.env[info.key] = info.val;
      accept?.();
    });
    session.on("window-change", (accept, reject, info) => {
      if (!saneWindow(info)) {
        host.refuse(`window change to ${info.cols}x${info.rows} refused`);
        return reject?.();
      }
      if (this.pty) this.pty = { ...this.pty, cols: info.cols, rows: info.rows };
      this.up?.setWindow(info.rows, info.cols, info.height, info.width);
      host.recording.resize(channel, info.cols, info.rows);
      accept?.();
    });
    session.on("signal", (accept, _reject, info) => {
      this.up?.signal(info.name);
      accept?.();
    });
    session.on("auth-agent", (_accept, reject) => {
      host.refuse("agent forwarding refused: the gateway does not forward agents");
      reject?.();
    });
    session.on("x11", (_accept, reject) => {
      host.refuse("X11 forwarding refused");
      reject?.();
    });
    session.on("shell", (accept, reject) => this.start("shell", null, accept, reject));
    session.on("exec", (accept, reject, info) => this.start("exec", info.command, accept, reject));
    session.on("subsystem", (accept, reject, info) => {
      if (info.name !== "sftp") {
        host.refuse(`subsystem ${JSON.stringify(info.name.slice(0, 64))} refused: only sftp is offered`);
        return reject?.();
      }
      this.start("subsystem", "sftp", accept, reject);
    });
  }

  /** True when the client sees a terminal on this channel. */
  get interactive(): boolean {
    return this.kind === "shell" || (this.kind === "exec" && this.pty !== null);
  }

  /** Tells the client one line on this channel: on its terminal, or on stderr for an exec. */
  say(line: string): boolean {
    const down = this.down;
    if (!down || this.closed || this.kind === "subsystem") return false;
    if (this.pty) down.write(`\r\n${line}\r\n`);
    else down.stderr.write(`${line}\n`);
    return true;
  }

  /**
   * Ends the channel for the grant's end: the line first, then EOF and close, so the client
   * shows the line before it leaves (a disconnect alone would drop output not yet written).
   */
  cut(line: string): boolean {
    const told = this.say(line);
    if (this.down && !this.closed) this.down.end();
    this.up?.close();
    return told;
  }

  private start(kind: "shell" | "exec" | "subsystem", command: string | null, accept: () => ssh2.ServerChannel, reject: (() => void) | undefined): void {
    if (this.host.closing || this.kind !== null) return reject?.();
    this.kind = kind;
    const window = this.pty ? { term: this.pty.term, cols: this.pty.cols, rows: this.pty.rows, width: this.pty.width, height: this.pty.height, modes: this.pty.modes } : false;
    const opened = (err: Error | undefined, up: ssh2.ClientChannel) => {
      if (err || this.host.closing) {
        if (!err) up.close();
        this.host.refuse(`the target refused the ${kind}${err ? `: ${err.message}` : ""}`);
        return reject?.();
      }
      this.relay(accept(), up, kind, command);
    };
    const upstream = this.host.upstream;
    if (kind === "shell") upstream.shell(window, { env: this.env }, opened);
    else if (kind === "exec") upstream.exec(command ?? "", { env: this.env, ...(window ? { pty: window } : {}) }, opened);
    else upstream.subsys("sftp", opened);
  }

  private relay(down: ssh2.ServerChannel, up: ssh2.ClientChannel, kind: "shell" | "exec" | "subsystem", command: string | null): void {
    const { recording } = this.host;
    const n = this.channel;
    this.down = down;
    this.up = up;
    const untrack = this.host.track(this);
    recording.channelOpen({ channel: n, type: kind, pty: this.pty ? { term: this.pty.term, cols: this.pty.cols, rows: this.pty.rows } : null, command });
    if (kind === "subsystem") {
      // File data is not recorded; the operations are.
      const log = new SftpLog(n, (op) => recording.sftp(op));
      pump(down, up, (d) => (log.fromClient(d), true), recording);
      pump(up, down, (d) => (log.fromServer(d), true), recording);
      up.once("close", () => log.end());
    } else {
      pump(down, up, (d) => recording.input(n, d), recording);
      pump(up, down, (d) => recording.output(n, d), recording);
      pump(up.stderr, down.stderr, (d) => recording.output(n, d), recording);
    }
    down.on("end", () => up.end());
    down.on("error", () => undefined);
    up.on("error", () => undefined);
    up.on("exit", (code: number | null, signal?: string, dump?: boolean, desc?: string) => {
      if (typeof code === "number") this.exit.code = code;
      else if (signal) this.exit = { code: null, signal: signal.replace(/^SIG/, ""), dump: dump === true, desc: desc ?? "" };
    });
    up.once("close", () => {
      if (!this.closed) {
        if (this.exit.code !== null) down.exit(this.exit.code);
        else if (this.exit.signal !== null) down.exit(this.exit.signal, this.exit.dump, this.exit.desc);
        down.end();
      }
      this.finish(untrack);
    });
    down.once("close", () => {
      up.close();
      this.finish(untrack);
    });
  }

  private finish(untrack: () => void): void {
    if (this.closed) return;
    this.closed = true;
    untrack();
    this.host.recording.channelClose(this.channel, { code: this.exit.code, signal: this.exit.signal });
  }
}
