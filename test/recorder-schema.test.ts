// The recording schema as an engine holds it after migrate(): retention and the part
// settings are on every table, a second start changes nothing, and a setting the engine does
// not know is left out rather than failing the start.
import type { ClickHouseClient } from "@clickhouse/client";
import { afterAll, describe, expect, it } from "vitest";
import { migrate } from "../recorder/index.js";
import { TABLE_TUNING, tuningMissing } from "../recorder/schema.js";
import { closeEmbedded, embedded, freshDatabase } from "./recorder-kit.js";

const TABLES = ["sessions", "events", "chunks", "keyframes", "text"];

afterAll(closeEmbedded);

/** The client, with the statements it was given kept in `commands`. */
function counting(client: ClickHouseClient): { client: ClickHouseClient; commands: string[] } {
  const commands: string[] = [];
  const proxy = new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === "command") {
        return (params: { query: string }) => {
          commands.push(params.query);
          return target.command(params);
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
  return { client: proxy, commands };
}

async function createQueries(client: ClickHouseClient, db: string): Promise<Map<string, string>> {
  const rs = await client.query({ query: "SELECT name, create_table_query FROM system.tables WHERE database = {db:String}", query_params: { db }, format: "JSONEachRow" });
  return new Map((await rs.json<{ name: string; create_table_query: string }>()).map((r) => [r.name, r.create_table_query]));
}

describe("recording schema", () => {
  it("puts the retention and the part settings on every table, and a second start alters nothing", async () => {
    const { ch } = await embedded();
    const db = freshDatabase();
    await migrate(ch.client, db, 30);
    const created = await createQueries(ch.client, db);
    for (const table of TABLES) {
      const query = created.get(table) ?? "";
      expect(query, table).toMatch(/INTERVAL 30 DAY|toIntervalDay\(30\)/);
      for (const [name, value] of Object.entries(TABLE_TUNING)) expect(query, table).toContain(`${name} = ${value}`);
    }

    const again = counting(ch.client);
    expect(await migrate(again.client, db, 30)).toEqual({ applied: [] });
    expect(again.commands.filter((q) => q.startsWith("ALTER"))).toEqual([]);

    const longer = counting(ch.client);
    await migrate(longer.client, db, 90);
    expect(longer.commands.filter((q) => q.includes("MODIFY TTL"))).toHaveLength(TABLES.length);
    expect(longer.commands.filter((q) => q.includes("MODIFY SETTING"))).toEqual([]);
    const after = await createQueries(ch.client, db);
    for (const table of TABLES) expect(after.get(table), table).toContain("merge_selector_algorithm = 'Trivial'");
  });

  it("asks only for the settings the engine knows and the table lacks", () => {
    const all = new Set(Object.keys(TABLE_TUNING));
    const bare = "CREATE TABLE d.events (x String) ENGINE = MergeTree ORDER BY x SETTINGS index_granularity = 8192";
    expect(tuningMissing(bare, all)).toEqual(Object.entries(TABLE_TUNING).map(([n, v]) => `${n} = ${v}`));
    expect(tuningMissing(bare, new Set())).toEqual([]);
    expect(tuningMissing(bare, new Set(["min_bytes_for_wide_part"]))).toEqual([`min_bytes_for_wide_part = ${TABLE_TUNING.min_bytes_for_wide_part}`]);
    const tuned = `${bare}, ${Object.entries(TABLE_TUNING).map(([n, v]) => `${n} = ${v}`).join(", ")}`;
    expect(tuningMissing(tuned, all)).toEqual([]);
  });
});
