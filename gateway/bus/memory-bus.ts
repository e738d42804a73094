// The in-process bus of a single node. Delivery is synchronous so that a grant's end
// reaches the engines in the same tick the expiry clock decides it.
import type { BusEvent, BusEventType, BusHandler, EventBus, Logger } from "../../policies/index.js";

export class MemoryBus implements EventBus {
  private readonly handlers = new Map<BusEventType, Set<(e: BusEvent) => void>>();

  constructor(private readonly logger: Logger) {}

  async publish(event: BusEvent): Promise<void> {
    for (const handler of this.handlers.get(event.type) ?? []) {
      try {
        handler(event);
      } catch (err) {
        // One faulty subscriber must not stop the others from hearing about a grant's end.
        this.logger.error("bus subscriber failed", { type: event.type, err: String(err) });
      }
    }
  }

  subscribe<T extends BusEventType>(type: T, handler: BusHandler<T>): () => void {
    let set = this.handlers.get(type);
    if (!set) this.handlers.set(type, (set = new Set()));
    const h = handler as (e: BusEvent) => void;
    set.add(h);
    return () => set.delete(h);
  }
}
