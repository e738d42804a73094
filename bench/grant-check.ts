// The connect-time grant check, cp.grants.findLive(user, target, login), with 10,000 live
// grants in the store (and three times as many ended ones), against the floor any check
// must pay on the same store in the same run: a `SELECT 1` round trip and a primary-key
// lookup. The three are interleaved, one of each per step in rotating order, so noise
// from the shared machine lands on all of them alike.
//
//   node dist/bench/grant-check.js [--pg URL | env JITGATE_BENCH_PG_URL] [--pg-only] [--lookups N] [--warmup N]
import { performance } from "node:perf_hooks";
import {
  GRANT_LOGIN,
  OTHER_LOGIN,
  benchControlPlane,
  eachStore,
  fail,
  intOption,
  main,
  parseArgs,
  prng,
  seedGrants,
  seedInventory,
  summarize,
  targetName,
  userName,
  type BenchStore,
  type Summary,
} from "./common.js";
import type { SqlClient } from "../policies/index.js";
import { printGrid, printTable } from "./table.js";

const USAGE = `usage: node dist/bench/grant-check.js [--pg URL] [--pg-only] [--lookups N] [--warmup N]

Times cp.grants.findLive with 10,000 live grants (1,000 users x 10 targets) and 30,000
ended ones, against SELECT 1 and a primary-key lookup on the same store. Runs on a
temporary PGlite, and also on a scratch database (created and dropped) on the PostgreSQL
at URL when --pg URL or JITGATE_BENCH_PG_URL is given; --pg-only skips PGlite.`;

const USERS = 1000;
const IDLE_USERS = 100;
const TARGETS = 10;
const LIVE = USERS * TARGETS;
const ENDED_PER_PAIR = 3;
/** The goal from the issue: the check costs at most this at p99. */
const GOAL_P99_MS = 2;
/** EXPLAIN ANALYZE runs of the check's statement, for the server-side split. */
const SERVER_SAMPLES = 500;

interface Lookup {
  user: string;
  target: string;
  login: string;
  /** Whether a live grant must be found. */
  hit: boolean;
}

/** 90% hits on a random live pair; 5% a login nobody holds a grant for; 5% a user with no grants. */
function lookups(n: number, random: () => number): Lookup[] {
  const pick = (m: number) => Math.floor(random() * m);
  const out: Lookup[] = [];
  for (let i = 0; i < n; i++) {
    const r = random();
    const target = targetName(pick(TARGETS));
    if (r < 0.9) out.push({ user: userName(pick(USERS)), target, login: GRANT_LOGIN, hit: true });
    else if (r < 0.95) out.push({ user: userName(pick(USERS)), target, login: OTHER_LOGIN, hit: false });
    else out.push({ user: userName(USERS + pick(IDLE_USERS)), target, login: GRANT_LOGIN, hit: false });
  }
  return out;
}

/**
 * The statement whose plan matters. findLive calls a PL/pgSQL function, whose plan an
 * EXPLAIN of the call does not show; its body's query is explained instead, with the
 * function's parameters in the same order.
 */
async function innerQuery(s: BenchStore, text: string): Promise<string> {
  const m = /FROM (\w+)\(/.exec(text);
  if (!m) return text;
  const [fn] = await s.store.query<{ src: string; args: string[] }>("SELECT prosrc AS src, proargnames[1:pronargs] AS args FROM pg_proc WHERE proname = $1", [m[1]]);
  const body = fn ? /RETURN QUERY([\s\S]*?);\s*END/.exec(fn.src)?.[1] : undefined;
  if (!fn || !body) return text;
  return fn.args.reduce((q, name, i) => q.replaceAll(new RegExp(`\\b${name}\\b`, "g"), `$${i + 1}`), body);
}

async function seed(s: BenchStore): Promise<number> {
  const t0 = performance.now();
  const now = Date.now();
  await seedInventory(s.store, { users: USERS, idleUsers: IDLE_USERS, targets: TARGETS });
  await seedGrants(s.store, {
    tag: "ended",
    count: LIVE * ENDED_PER_PAIR,
    users: USERS,
    targets: TARGETS,
    notBefore: new Date(now - 3 * 3600_000),
    notAfter: new Date(now - 2 * 3600_000),
    spreadMs: 3600_000,
    endedAt: new Date(now - 3600_000),
  });
  await seedGrants(s.store, {
    tag: "live",
    count: LIVE,
    users: USERS,
    targets: TARGETS,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 3600_000),
    spreadMs: 0,
    endedAt: null,
  });
  // A long-running server has statistics from autovacuum; a freshly seeded one does not.
  await s.store.query("ANALYZE");
  return performance.now() - t0;
}

async function run(s: BenchStore, n: number, warmup: number): Promise<void> {
  console.log(`\n=== grant check on ${s.label}`);
  const seedMs = await seed(s);
  const [counts] = await s.store.query<{ live: number; ended: number }>(
    "SELECT count(*) FILTER (WHERE ended_at IS NULL)::int AS live, count(*) FILTER (WHERE ended_at IS NOT NULL)::int AS ended FROM grants",
  );
  console.log(`seeded ${counts?.live} live and ${counts?.ended} ended grants (${USERS + IDLE_USERS} users, ${TARGETS} targets) in ${seedMs.toFixed(0)} ms`);
  if (counts?.live !== LIVE) fail(`expected ${LIVE} live grants, found ${counts?.live}`);

  const { cp } = benchControlPlane(s.store);
  const ids = (await s.store.query<{ id: string }>("SELECT id FROM grants WHERE ended_at IS NULL")).map((r) => r.id);
  const random = prng(0x6a17);
  const plan = lookups(warmup + n, random);
  const pkIds = plan.map(() => ids[Math.floor(random() * ids.length)] as string);

  // The statement findLive sends, captured from a second control plane, so the plan and
  // the server-side timings below are of exactly that statement.
  const captured = await captureStatement(s, plan.find((l) => l.hit) as Lookup);
  const explain = await s.store.query<{ "QUERY PLAN": string }>(`EXPLAIN ${await innerQuery(s, captured.text)}`, captured.params);
  const indexes = [...new Set(explain.flatMap((r) => [...r["QUERY PLAN"].matchAll(/using (\w+)/g)].map((m) => m[1])))];
  const seqScans = explain.filter((r) => /Seq Scan/.test(r["QUERY PLAN"])).map((r) => r["QUERY PLAN"].replace(/^[\s->]+/, "").replace(/\s+\(cost.*$/, ""));
  console.log(`plan of the check's statement: indexes ${indexes.join(", ") || "none"}; ${seqScans.length ? `${seqScans.join("; ")} (10 rows)` : "no sequential scan"}`);

  const check: number[] = [];
  const select1: number[] = [];
  const pk: number[] = [];
  let wrong = 0;
  const steps: ((i: number) => Promise<number>)[] = [
    async (i) => {
      const l = plan[i] as Lookup;
      const t0 = performance.now();
      const live = await cp.grants.findLive(l.user, l.target, l.login);
      const dt = performance.now() - t0;
      if ((live !== null) !== l.hit || (live && (live.userName !== l.user || live.targetName !== l.target))) wrong++;
      return dt;
    },
    async () => {
      const t0 = performance.now();
      await s.store.query("SELECT 1");
      return performance.now() - t0;
    },
    async (i) => {
      const t0 = performance.now();
      const rows = await s.store.query("SELECT id, not_after FROM grants WHERE id = $1", [pkIds[i]]);
      const dt = performance.now() - t0;
      if (rows.length !== 1) wrong++;
      return dt;
    },
  ];
  const into = [check, select1, pk];
  const t0 = performance.now();
  for (let i = 0; i < warmup + n; i++) {
    for (let k = 0; k < 3; k++) {
      const which = (i + k) % 3;
      const dt = await (steps[which] as (i: number) => Promise<number>)(i);
      if (i >= warmup) (into[which] as number[]).push(dt);
    }
  }
  const wallMs = performance.now() - t0;
  if (wrong > 0) fail(`${wrong} lookups gave the wrong answer (a hit missed, a miss found, or the wrong grant)`);
  const hits = plan.slice(warmup).filter((l) => l.hit).length;
  console.log(
    `${n} lookups of each kind after ${warmup} warm-up (${hits} hits, ${n - hits} misses), interleaved; all answers correct; ${(wallMs / 1000).toFixed(1)} s`,
  );

  const c = summarize(check);
  const rows = (d: Summary) =>
    (["p50", "p99", "max", "mean"] as const).map((k) => ({ measure: k, unit: "ms", jitgate: c[k], direct: d[k], digits: 3 }));
  printTable(`findLive vs SELECT 1 round trip — ${s.label}`, rows(summarize(select1)), "SELECT 1");
  printTable(`findLive vs primary-key lookup on grants — ${s.label}`, rows(summarize(pk)), "PK lookup");

  // Where one check's time goes: the server's own planning and execution of the statement
  // (EXPLAIN ANALYZE of the captured text), the rest being the round trip and the client.
  const planning: number[] = [];
  const execution: number[] = [];
  for (const l of plan.slice(0, SERVER_SAMPLES)) {
    const params = [l.user, l.target, l.login, ...captured.params.slice(3)];
    const [row] = await s.store.query<{ "QUERY PLAN": unknown }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${captured.text}`, params);
    const json = (typeof row?.["QUERY PLAN"] === "string" ? JSON.parse(row["QUERY PLAN"]) : row?.["QUERY PLAN"]) as { "Planning Time": number; "Execution Time": number }[];
    planning.push(json[0]?.["Planning Time"] ?? NaN);
    execution.push(json[0]?.["Execution Time"] ?? NaN);
  }
  const p = summarize(planning);
  const e = summarize(execution);
  const s1 = summarize(select1);
  printGrid(`one check, split (server side from EXPLAIN ANALYZE, ${SERVER_SAMPLES} samples) — ${s.label}`, ["part", "p50 ms", "p99 ms"], [
    ["server: planning the statement", p.p50.toFixed(3), p.p99.toFixed(3)],
    ["server: executing it", e.p50.toFixed(3), e.p99.toFixed(3)],
    ["round trip and client (SELECT 1)", s1.p50.toFixed(3), s1.p99.toFixed(3)],
    ["whole check (findLive)", c.p50.toFixed(3), c.p99.toFixed(3)],
  ]);

  const verdict = c.p99 <= GOAL_P99_MS ? "met" : "MISSED";
  console.log(`\ngoal: check p99 <= ${GOAL_P99_MS} ms — ${verdict} (p99 ${c.p99.toFixed(3)} ms)`);
  if (c.p99 > GOAL_P99_MS && s1.p99 > GOAL_P99_MS) {
    console.log(`note: SELECT 1 alone has p99 ${s1.p99.toFixed(3)} ms in this run, above the goal: the machine's noise sets this p99, not the check`);
  }
}

/** Runs findLive once on a control plane whose SqlClient records the statement it sends. */
async function captureStatement(s: BenchStore, l: Lookup): Promise<{ text: string; params: unknown[] }> {
  let captured: { text: string; params: unknown[] } | null = null;
  const recording: SqlClient = {
    shared: s.store.shared,
    query: (text, params) => {
      captured = { text, params: [...(params ?? [])] };
      return s.store.query(text, params);
    },
    transaction: (fn) => s.store.transaction(fn),
  };
  await benchControlPlane(recording).cp.grants.findLive(l.user, l.target, l.login);
  const got = captured as { text: string; params: unknown[] } | null;
  const [user, target, login] = got?.params ?? [];
  if (!got || got.params.length !== 4 || user !== l.user || target !== l.target || login !== l.login) {
    fail("findLive no longer sends one statement with (user, target, login, now) parameters: update captureStatement");
  }
  return got;
}

main(async () => {
  const args = parseArgs(process.argv.slice(2), USAGE);
  const n = intOption(args, "lookups", 20_000);
  const warmup = intOption(args, "warmup", 2_000);
  await eachStore(args, (s) => run(s, n, warmup));
});
