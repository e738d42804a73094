// A small web application on loopback for the HTTP engine's tests: it demands basic auth
// (as a router's admin page would), remembers every request it saw, echoes them, serves
// HTML with absolute links, redirects, cookies, and a websocket that echoes.
import { execFile } from "node:child_process";
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttps } from "node:https";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
  websocket: boolean;
}

export interface HttpUpstream {
  port: number;
  /** http(s)://127.0.0.1:PORT */
  origin: string;
  seen: SeenRequest[];
  /** Websockets open on the upstream right now. */
  sockets: Set<WebSocket>;
  close(): Promise<void>;
}

export interface UpstreamOptions {
  user: string;
  password: string;
  tls?: { key: string; cert: string };
}

export async function startHttpUpstream(o: UpstreamOptions): Promise<HttpUpstream> {
  const expected = `Basic ${Buffer.from(`${o.user}:${o.password}`).toString("base64")}`;
  const seen: SeenRequest[] = [];
  const sockets = new Set<WebSocket>();
  let origin = "";
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body, websocket: false });
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { "www-authenticate": 'Basic realm="upstream"', "content-type": "text/plain" }).end("who are you?");
        return;
      }
      respond(req, res, body, origin);
    });
  };
  const server: Server = o.tls ? createHttps({ key: o.tls.key, cert: o.tls.cert }, handler) : createHttp(handler);
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (protocols) => (protocols.has("echo.v1") ? "echo.v1" : false) });
  server.on("upgrade", (req: IncomingMessage, socket, head) => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: "", websocket: true });
    if (req.headers.authorization !== expected) {
      socket.end("HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.on("close", () => sockets.delete(ws));
      ws.on("message", (data, isBinary) => ws.send(isBinary ? data : `echo: ${String(data)}`, { binary: isBinary }));
    });
  });
  server.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const port = (server.address() as AddressInfo).port;
  origin = `${o.tls ? "https" : "http"}://127.0.0.1:${port}`;
  return {
    port,
    origin,
    seen,
    sockets,
    close: async () => {
      for (const ws of sockets) ws.terminate();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

function respond(req: IncomingMessage, res: ServerResponse, body: string, origin: string): void {
  const url = new URL(req.url ?? "/", "http://upstream.invalid");
  switch (url.pathname) {
    case "/echo": {
      const text = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(200, { "content-type": "application/json" }).end(text);
      return;
    }
    case "/page":
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(
        `<!doctype html><html><head><link rel="stylesheet" href="/static/app.css"></head><body>` +
          `<a href="/other?x=1">other</a> <a href='${origin}/absolute'>absolute</a> <a href="relative">relative</a>` +
          `<a href="https://example.org/">elsewhere</a> <a href="//cdn.example.org/x.js">cdn</a>` +
          `<img src="/img.png"><form method="post" action="/submit"></form></body></html>`,
      );
      return;
    case "/redirect":
      res.writeHead(302, { location: "/echo?from=redirect" }).end();
      return;
    case "/redirect-absolute":
      res.writeHead(302, { location: `${origin}/echo?from=absolute` }).end();
      return;
    case "/cookie":
      res.setHeader("set-cookie", ["sid=abc123; Path=/; HttpOnly", "pref=dark; Domain=upstream.internal; Path=/settings", "__Host-jitgate=stolen; Path=/; Secure"]);
      res.writeHead(200, { "content-type": "text/plain" }).end("cookies set");
      return;
    case "/big": {
      const size = Number(url.searchParams.get("size") ?? "102400");
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": size }).end(Buffer.alloc(size, 120));
      return;
    }
    default:
      res.writeHead(200, { "content-type": "text/plain" }).end(`ok ${url.pathname}`);
  }
}

export interface CurlResult {
  status: number;
  headers: Record<string, string[]>;
  body: string;
}

/** Runs the stock curl; the last response's status line, headers and body. */
export function curl(args: string[]): Promise<CurlResult> {
  return new Promise((resolve, reject) => {
    execFile("curl", ["-sS", "-i", "--max-time", "20", ...args], { encoding: "buffer", maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err && stdout.length === 0) return reject(new Error(`curl ${args.join(" ")} failed: ${stderr.toString()}`));
      const text = stdout.toString("utf8");
      // With -L, every hop's head is printed: the last one is the answer.
      let rest = text;
      let head = "";
      for (;;) {
        const end = rest.indexOf("\r\n\r\n");
        if (!rest.startsWith("HTTP/") || end < 0) break;
        head = rest.slice(0, end);
        rest = rest.slice(end + 4);
      }
      const [statusLine, ...lines] = head.split("\r\n");
      const headers: Record<string, string[]> = {};
      for (const line of lines) {
        const i = line.indexOf(":");
        const name = line.slice(0, i).trim().toLowerCase();
        (headers[name] ??= []).push(line.slice(i + 1).trim());
      }
      resolve({ status: Number(statusLine?.split(" ")[1] ?? 0), headers, body: rest });
    });
  });
}
