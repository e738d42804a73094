// What starts a rotation without an admin asking: a per-account schedule (account option
// `rotateEvery`, a duration) and the end of a grant on the account (option `checkIn=true`),
// so a password someone may have seen while the grant lasted is dead afterwards.
// Every node runs both; Rotations re-checks under the cluster lock, so an account due
// is rotated once by whichever node gets there first, and a grant's end is checked in once.
import { parseDuration, type Account, type Clock, type ControlPlane, type GrantEndedEvent, type Logger } from "../../policies/index.js";
import type { Rotations } from "./rotation.js";

export interface RotationTriggersOptions {
  /** A fixed period for the schedule check; by default min(60 s, half the shortest rotateEvery). */
  checkIntervalMs?: number | null;
  clock?: Clock;
  logger?: Logger;
}

const ACTOR = "system";
const MAX_CHECK_MS = 60_000;
const MIN_CHECK_MS = 250;
/** After a failed scheduled rotation, the next try waits its interval, at most this long. */
const MAX_RETRY_MS = 3600_000;

type Eligibility = { ok: true } | { ok: false; why: string };

export class RotationTriggers {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private running = false;
  private cancelTimer: (() => void) | null = null;
  private checking: Promise<void> | null = null;
  private unsubscribe: (() => void) | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  /** Warnings already given, so a misconfigured account is reported once, not every check. */
  private readonly warned = new Set<string>();

  constructor(
    private readonly cp: ControlPlane,
    private readonly rotations: Rotations,
    private readonly opts: RotationTriggersOptions = {},
  ) {
    this.clock = opts.clock ?? cp.deps.clock;
    this.logger = opts.logger ?? cp.deps.logger;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.cp.deps.bus.subscribe("grant.ended", (e) => this.onGrantEnded(e));
    this.arm(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.cancelTimer?.();
    this.cancelTimer = null;
    await this.checking;
    await Promise.all([...this.inFlight]);
  }

  /** One pass of the schedule: rotates every account found due. Returns the shortest interval seen. */
  async checkSchedule(): Promise<number> {
    const [targets, accounts] = await Promise.all([this.cp.inventory.listTargets(), this.cp.inventory.listAccounts()]);
    const kinds = new Map(targets.map((t) => [t.name, t.kind]));
    let shortest = Infinity;
    for (const account of accounts) {
      if (!this.running) break;
      const every = this.interval(account);
      if (every === null) continue;
      const fit = eligible(account, kinds.get(account.targetName));
      if (!fit.ok) {
        this.warnOnce(`schedule:${ref(account)}:${fit.why}`, "rotateEvery is set on an account that cannot be rotated; it is ignored", { account: ref(account), why: fit.why });
        continue;
      }
      shortest = Math.min(shortest, every.ms);
      try {
        const since = await this.rotations.lastChange(account.targetName, account.login);
        if (since === null) {
          this.warnOnce(`schedule:${ref(account)}:no-secret`, "rotateEvery is set on an account without a password in the vault; nothing to rotate", { account: ref(account) });
          continue;
        }
        const now = this.clock.now();
        if (since.getTime() > now - every.ms) continue;
        const entry = await this.rotations.rotateIfDue(
          ACTOR, account.targetName, account.login, `every ${every.text}`,
          new Date(now - every.ms), new Date(now - Math.min(every.ms, MAX_RETRY_MS)),
        );
        if (entry) this.logger.info("password rotated on schedule", { account: ref(account), version: entry.version });
      } catch (err) {
        this.logger.error("scheduled rotation failed", { account: ref(account), err: describe(err) });
      }
    }
    return shortest;
  }

  private interval(account: Account): { ms: number; text: string } | null {
    const raw = account.options.rotateEvery;
    if (raw === undefined || raw === null || raw === "") return null;
    const text = typeof raw === "string" ? raw.trim() : String(raw);
    try {
      return { ms: parseDuration(text), text };
    } catch (err) {
      this.warnOnce(`every:${ref(account)}:${text}`, "rotateEvery is not a duration; the account is not rotated on a schedule", {
        account: ref(account), value: text, err: describe(err),
      });
      return null;
    }
  }

  private arm(ms: number): void {
    if (!this.running) return;
    this.cancelTimer = this.clock.setTimer(ms, () => {
      this.cancelTimer = null;
      this.checking = this.runCheck().finally(() => {
        this.checking = null;
      });
    });
  }

  private async runCheck(): Promise<void> {
    let shortest = Infinity;
    try {
      shortest = await this.checkSchedule();
    } catch (err) {
      this.logger.error("rotation schedule check failed", { err: describe(err) });
    }
    const fixed = this.opts.checkIntervalMs;
    this.arm(fixed ?? Math.max(MIN_CHECK_MS, Math.min(MAX_CHECK_MS, shortest / 2)));
  }

  private onGrantEnded(e: GrantEndedEvent): void {
    if (!this.running || (e.reason !== "expired" && e.reason !== "revoked")) return;
    const work = this.checkIn(e).catch((err: unknown) => {
      this.logger.error("check-in rotation failed", { account: `${e.targetName}/${e.login}`, grantId: e.grantId, err: describe(err) });
    });
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  private async checkIn(e: GrantEndedEvent): Promise<void> {
    const account = (await this.cp.inventory.listAccounts(e.targetName)).find((a) => a.login === e.login);
    if (!account || !isTrue(account.options.checkIn)) return;
    const fit = eligible(account, (await this.cp.inventory.getTarget(e.targetName)).kind);
    if (!fit.ok) {
      this.warnOnce(`check-in:${ref(account)}:${fit.why}`, "checkIn is set on an account that cannot be rotated; it is ignored", { account: ref(account), why: fit.why });
      return;
    }
    const entry = await this.rotations.checkIn(ACTOR, e.targetName, e.login, e.grantId);
    if (entry) this.logger.info("password rotated at check-in", { account: ref(account), grantId: e.grantId, version: entry.version });
  }

  private warnOnce(key: string, message: string, fields: Record<string, unknown>): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.logger.warn(message, fields);
  }
}

function eligible(account: Account, kind: string | undefined): Eligibility {
  if (kind !== "postgres" && kind !== "ssh") return { ok: false, why: `only postgres and ssh accounts are rotated, this target is ${kind ?? "unknown"}` };
  if (account.auth !== "password") return { ok: false, why: `it logs in with ${account.auth}, not a password` };
  return { ok: true };
}

const isTrue = (v: unknown) => v === true || (typeof v === "string" && v.trim().toLowerCase() === "true");
const ref = (a: Account) => `${a.targetName}/${a.login}`;

// Errors here come from the store, the inventory and the rotator, whose messages are
// redacted already; only the code and message are kept, never the object itself.
function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === "string" ? `${e.code}: ` : "";
  return `${code}${typeof e?.message === "string" ? e.message : String(err)}`;
}
