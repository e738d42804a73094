// Live sessions of this node, indexed by grant and user, so a grant's end (expiry,
// revocation, or its user's expiry) closes every session under it at that instant.
import type { EventBus, GrantEndedEvent } from "../policies/index.js";
import type { SessionHandle } from "./engine.js";

export class SessionRegistry {
  private readonly byGrant = new Map<string, Set<SessionHandle>>();
  private readonly unsubscribe: () => void;

  constructor(bus: EventBus) {
    this.unsubscribe = bus.subscribe("grant.ended", (e) => this.endGrant(e));
  }

  add(session: SessionHandle): () => void {
    let set = this.byGrant.get(session.grantId);
    if (!set) this.byGrant.set(session.grantId, (set = new Set()));
    set.add(session);
    return () => {
      set.delete(session);
      if (set.size === 0) this.byGrant.delete(session.grantId);
    };
  }

  get size(): number {
    let n = 0;
    for (const s of this.byGrant.values()) n += s.size;
    return n;
  }

  private endGrant(e: GrantEndedEvent): void {
    const sessions = this.byGrant.get(e.grantId);
    if (!sessions) return;
    this.byGrant.delete(e.grantId);
    const message = `jitgate: grant ${e.grantId} ${e.reason} — session closed`;
    for (const s of sessions) s.close(message);
  }

  stop(): void {
    this.unsubscribe();
  }
}
