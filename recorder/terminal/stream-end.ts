// Where a byte stream (a channel's output, or its input) has got to, so that each byte given
// is counted once: a batch given again (a retry) overlaps what was seen and only its new tail
// counts; an offset that is missing or nonsense continues the stream; a jump forward is a gap.

export interface Fresh {
  start: number;
  data: Uint8Array;
  /** Bytes skipped over between the end so far and `start`. */
  gap: number;
}

export class StreamEnd {
  end = 0;

  accept(offset: number, data: Uint8Array): Fresh | null {
    let start = Number.isSafeInteger(offset) && offset >= 0 ? offset : this.end;
    let gap = 0;
    if (start < this.end) {
      const skip = this.end - start;
      if (skip >= data.length) return null;
      data = data.subarray(skip);
      start = this.end;
    } else {
      gap = start - this.end;
    }
    if (data.length === 0) return null;
    this.end = start + data.length;
    return { start, data, gap };
  }
}
