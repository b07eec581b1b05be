import { createDatabase, type Database } from "@kiln/db";
import { createLogger } from "@kiln/runtime";
import { BuildScheduler } from "@kiln/scheduler";
import { connectTestBus, integrationTest, type WorkerInfra } from "@kiln/testing";
import type { Bus } from "@kiln/bus";

export interface SchedulerOnly {
  infra: WorkerInfra;
  db: Database;
  /** The scheduler's bus (admin): what a test publishes, and a stand-in runner consumes, with. */
  bus: Bus;
  /** Not started: a test starts it once its resources are in place. */
  scheduler: BuildScheduler;
}

const logger = createLogger({ service: "scheduler-test", level: "silent" });

/**
 * vitest `test` with a real scheduler on the test's own database and bus prefix, and no runner:
 * `scheduling` gives the pieces, and stops the scheduler, drains the bus and closes the
 * database after the test.
 */
export const test = integrationTest.extend<{ scheduling: SchedulerOnly }>({
  scheduling: async ({ infra, database, subjectPrefix }, use) => {
    const db = createDatabase(database.url);
    const bus = await connectTestBus(infra, {
      prefix: subjectPrefix,
      name: "scheduler-test",
      logger,
    });
    const scheduler = new BuildScheduler({
      bus,
      db: db.db,
      logger,
      registry: infra.registry.address,
      runnerSealingKey: infra.sealingKeys.publicKey,
      secrets: infra.secrets,
    });
    try {
      await use({ infra, db, bus, scheduler });
    } finally {
      await scheduler.stop();
      await bus.drain();
      await db.close();
    }
  },
});
