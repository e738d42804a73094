import { describe, expect, it } from "vitest";
import { ByteQueue } from "./byte-queue.js";

const rowsOf = (body: Buffer) => body.toString("utf8").split("\n").filter(Boolean);

describe("ByteQueue", () => {
  it("hands out each batch at the start of a buffer of its own, and writes later rows into it once it is given back", () => {
    const q = new ByteQueue();
    q.push("a\t1");
    q.push("b\t2");
    const first = q.take();
    expect(first.rows).toBe(2);
    expect(rowsOf(first.body)).toEqual(["a\t1", "b\t2"]);
    expect(first.body.byteOffset).toBe(0);
    const buffer = first.body.buffer;
    q.recycle(first.body);
    q.push("c\t3");
    const second = q.take();
    expect(second.body.buffer).toBe(buffer);
    expect(rowsOf(second.body)).toEqual(["c\t3"]);
  });

  it("does not hand out a buffer that has not been given back", () => {
    const q = new ByteQueue();
    q.push("a");
    const first = q.take();
    q.push("b");
    const second = q.take();
    expect(second.body.buffer).not.toBe(first.body.buffer);
    expect(rowsOf(first.body)).toEqual(["a"]);
  });

  it("joins rows spread over several buffers into one body and reuses the buffers they were in", () => {
    const q = new ByteQueue();
    q.push("small");
    const big = "x".repeat(3 << 20);
    q.push(big);
    const { body, rows } = q.take();
    expect(rows).toBe(2);
    expect(rowsOf(body)).toEqual(["small", big]);
    expect(body.byteOffset).toBe(0);
    // The buffers the rows were in went back to the queue; the body's own is still in use.
    q.push("next");
    const next = q.take();
    expect(rowsOf(next.body)).toEqual(["next"]);
    expect(next.body.buffer).not.toBe(body.buffer);
  });

  it("takes back only buffers it could have made, and lets go of one far larger than the next batch needs", () => {
    const q = new ByteQueue();
    q.recycle(Buffer.from("from node's shared pool"));
    q.recycle(Buffer.allocUnsafeSlow(2 << 20).subarray(10));
    q.push("a");
    const made = q.take().body.buffer;
    expect(made.byteLength).toBe(1 << 20);

    const huge = new ByteQueue();
    huge.push("y".repeat(40 << 20));
    const first = huge.take();
    huge.recycle(first.body);
    // A quiet time follows: batches of a few bytes do not keep 50 MiB alive.
    for (let i = 0; i < 3; i++) {
      huge.push("z");
      const { body } = huge.take();
      huge.recycle(body);
    }
    huge.push("z");
    expect(huge.take().body.buffer.byteLength).toBeLessThan(8 << 20);
  });
});
