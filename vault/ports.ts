// What the vault needs from the outside world. The gateway hands in the implementations;
// the vault declares its own shapes so it never depends on another library.

export type VaultRow = Record<string, unknown>;

export interface VaultSql {
  query<R extends VaultRow = VaultRow>(text: string, params?: readonly unknown[]): Promise<R[]>;
  /** Runs fn in one transaction; a nested call joins the outer one. */
  transaction<T>(fn: (tx: VaultSql) => Promise<T>): Promise<T>;
  /** True on a served PostgreSQL shared by several nodes; false when embedded. */
  readonly shared: boolean;
}

export interface VaultClock {
  now(): number;
}
