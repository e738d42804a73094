// test/support's private PostgreSQL clusters, for benchmarks that need a server checking
// passwords. The build compiles test/support/postgres.ts through this import but not
// test/support/global-setup.ts, which declares what vitest's inject() provides there; the
// same declaration is repeated here so the build type-checks it.
export { startPrivateCluster, type PrivateCluster, type PrivateClusterOptions } from "../test/support/postgres.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** A superuser URL on the test server's `postgres` database. */
    pgAdminUrl: string;
  }
}
