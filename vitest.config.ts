import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["packages/**/src/**/*.test.ts", "services/**/src/**/*.test.ts"],
          exclude: ["**/node_modules/**", "**/*.int.test.ts"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/**/*.int.test.ts"],
          // One file at a time, in one process: the build machines have 2 cores and buildah on the
          // vfs driver copies whole layers to disk, so parallel files would only fight over CPU and
          // disk and hit their timeouts. vitest 3.2 accepts `fileParallelism` only at the root (it
          // would serialise the unit project too); a single fork is the per-project equivalent,
          // and it also lets the worker-scoped `infra` fixture of @kiln/testing (nats, postgres,
          // registry, base image) start once for the whole run instead of once per file.
          pool: "forks",
          poolOptions: { forks: { singleFork: true } },
          // Real servers, real builds: a cold build with layer copies takes tens of seconds.
          testTimeout: 180_000,
          hookTimeout: 180_000,
          // Retry only on CI, where a slow shared machine can miss a deadline; locally a flaky
          // test must fail loudly so that it gets fixed rather than hidden.
          retry: process.env.CI ? 2 : 0,
        },
      },
    ],
  },
});
