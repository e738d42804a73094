// Viewers of a session on this node. A viewer of a terminal gets the current screen first,
// then the events after it: output offsets continue exactly from the screen's offset. Events
// that arrive while the screen is being read are held, and trimmed to the screen's offset, so
// nothing is missing or shown twice whatever the timing.
import type { RecordedEvent } from "./events.js";
import type { Keyframe } from "./terminal/index.js";

export type LiveMessage =
  /** First, for a terminal channel: its screen as of `keyframe.offset` (null if it could not be read). */
  | { type: "snapshot"; channel: number; keyframe: Keyframe | null }
  | { type: "event"; event: RecordedEvent }
  /** Last: the session ended; the subscription is over. */
  | { type: "end"; reason: string };

export type LiveListener = (message: LiveMessage) => void;

export interface LiveSubscription {
  readonly sessionId: string;
  /** The terminal channel watched, or null (all of the session's events are delivered). */
  readonly channel: number | null;
  unsubscribe(): void;
}

const TERMINAL_KINDS = new Set(["channel_open", "output", "input", "resize", "channel_close"]);

export class Viewer {
  #listener: LiveListener;
  #channel: number | null;
  #held: RecordedEvent[] | null;
  #onBroken: () => void;

  constructor(listener: LiveListener, channel: number | null, waitForScreen: boolean, onBroken: () => void) {
    this.#listener = listener;
    this.#channel = channel;
    this.#held = waitForScreen ? [] : null;
    this.#onBroken = onBroken;
  }

  /** The screen is read: send it, then what was held, trimmed to follow it. */
  screen(keyframe: Keyframe | null): void {
    const held = this.#held ?? [];
    this.#held = null;
    if (this.#channel === null) return;
    if (!this.#send({ type: "snapshot", channel: this.#channel, keyframe })) return;
    for (const event of held) {
      const e = keyframe ? after(event, this.#channel, keyframe.offset) : event;
      if (e && !this.#send({ type: "event", event: e })) return;
    }
  }

  event(event: RecordedEvent): void {
    if (this.#channel !== null && TERMINAL_KINDS.has(event.kind) && event.channel !== this.#channel) return;
    if (this.#held) this.#held.push(event);
    else this.#send({ type: "event", event });
  }

  end(reason: string): void {
    if (this.#held) this.screen(null);
    this.#send({ type: "end", reason });
  }

  #send(message: LiveMessage): boolean {
    try {
      this.#listener(message);
      return true;
    } catch {
      // A failing viewer is dropped; the session goes on.
      this.#onBroken();
      return false;
    }
  }
}

/** The part of an event that follows output offset `from` on the watched channel. */
function after(event: RecordedEvent, channel: number, from: number): RecordedEvent | null {
  if (event.kind !== "output" || event.channel !== channel) return event;
  const end = event.offset + event.data.length;
  if (end <= from) return null;
  if (event.offset >= from) return event;
  return { ...event, offset: from, data: event.data.subarray(from - event.offset) };
}
