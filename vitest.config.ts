import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["policies/**/*.test.ts", "vault/**/*.test.ts", "recorder/**/*.test.ts", "gateway/**/*.test.ts", "test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    reporters: ["default", "./test/support/summary-reporter.ts"],
  },
});
