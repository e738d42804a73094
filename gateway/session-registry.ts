// Live sessions of this node, indexed by grant and by id, so a grant's end (expiry,
// revocation, or its user's expiry) closes every session under it at that instant, and
// an auditor can list or kill one.
import type { EventBus, GrantEndedEvent } from "../policies/index.js";
import type { SessionHandle } from "./engine.js";

export class SessionRegistry {
  private readonly byGrant = new Map<string, Set<SessionHandle>>();
  private readonly byId = new Map<string, SessionHandle>();
  private readonly unsubscribe: () => void;

  constructor(bus: EventBus) {
    this.unsubscribe = bus.subscribe("grant.ended", (e) => this.endGrant(e));
  }

  add(session: SessionHandle): () => void {
    let set = this.byGrant.get(session.grantId);
    if (!set) this.byGrant.set(session.grantId, (set = new Set()));
    set.add(session);
    this.byId.set(session.id, session);
    return () => {
      set.delete(session);
      this.byId.delete(session.id);
      if (set.size === 0) this.byGrant.delete(session.grantId);
    };
  }

  get size(): number {
    return this.byId.size;
  }

  get(id: string): SessionHandle | undefined {
    return this.byId.get(id);
  }

  list(): SessionHandle[] {
    return [...this.byId.values()];
  }

  private endGrant(e: GrantEndedEvent): void {
    const sessions = this.byGrant.get(e.grantId);
    if (!sessions) return;
    this.byGrant.delete(e.grantId);
    const message = `jitgate: grant ${e.grantId} ${e.reason} — session closed`;
    for (const s of sessions) {
      this.byId.delete(s.id);
      s.close(message);
    }
  }

  stop(): void {
    this.unsubscribe();
  }
}
