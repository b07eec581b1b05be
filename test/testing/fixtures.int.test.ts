import { readFileSync } from "node:fs";
import { execFileSync, type ExecFileSyncOptionsWithStringEncoding } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { connect } from "nats";
import pg from "pg";
import { describe, expect } from "vitest";
import {
  buildahArgs,
  integrationTest as test,
  makeGitRepo,
  registryNotificationToken,
  natsAdminOptions,
} from "@kiln/testing";

const seen = new Set<string>();

describe("integrationTest fixtures", () => {
  test("gives each test its own database cloned from the migrated template", async ({
    database,
    infra,
  }) => {
    expect(database.url).toBe(infra.databaseUrlFor(database.name));
    expect(seen.has(database.name)).toBe(false);
    seen.add(database.name);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const tables = await client.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
      );
      // Whatever the migrations create is there; the test owns the database outright.
      expect(tables.rowCount).toBeGreaterThan(0);
      await client.query("CREATE TABLE scratch (x int)");
    } finally {
      await client.end();
    }
  });

  test("the test's database belongs to the kiln role, which its URL logs in as, as the services do", async ({
    database,
  }) => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const who = await client.query(
        `SELECT current_user AS "user", r.rolsuper AS superuser,
                (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()) AS "databaseOwner",
                (SELECT array_agg(DISTINCT tableowner::text) FROM pg_tables WHERE schemaname IN ('public', 'drizzle')) AS "tableOwners"
           FROM pg_roles r WHERE r.rolname = current_user`,
      );
      expect(who.rows).toEqual([
        { user: "kiln", superuser: false, databaseOwner: "kiln", tableOwners: ["kiln"] },
      ]);
    } finally {
      await client.end();
    }
  });

  test("drops the previous test's database and clones a fresh one", async ({ database, infra }) => {
    expect(seen.has(database.name)).toBe(false);
    const admin = new pg.Client({ connectionString: infra.adminDatabaseUrl });
    await admin.connect();
    try {
      const names = (
        await admin.query("SELECT datname FROM pg_database WHERE datname LIKE 't\\_%'")
      ).rows.map((r: { datname: string }) => r.datname);
      expect(names).toEqual([database.name]);
    } finally {
      await admin.end();
    }
  });

  test("hands out a subject prefix that works as a NATS token and a stream name", async ({
    infra,
    subjectPrefix,
  }) => {
    expect(subjectPrefix).toMatch(/^t[a-z0-9]{10}$/);
    const nc = await connect(natsAdminOptions(infra));
    try {
      const jsm = await nc.jetstreamManager();
      const stream = `${subjectPrefix.toUpperCase()}_BUILDS`;
      await jsm.streams.add({ name: stream, subjects: [`${subjectPrefix}.kiln.>`] });
      const ack = await nc
        .jetstream()
        .publish(`${subjectPrefix}.kiln.builds.requested`, new Uint8Array([1]));
      expect(ack.stream).toBe(stream);
      await jsm.streams.delete(stream);
    } finally {
      await nc.close();
    }
  });

  test("pushes a busybox base image that buildah can run", async ({ baseImage, infra }) => {
    expect(baseImage.ref).toBe(`${infra.registry.address}/base/busybox:latest`);
    expect(baseImage.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const global = buildahArgs(baseImage.storageDir);
    const opts: ExecFileSyncOptionsWithStringEncoding = {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    };
    const ctr = execFileSync(
      "buildah",
      [...global, "from", "--quiet", "--tls-verify=false", baseImage.ref],
      opts,
    ).trim();
    try {
      const out = execFileSync(
        "buildah",
        [
          ...global,
          "run",
          "--isolation",
          "chroot",
          ctr,
          "--",
          "sh",
          "-c",
          "echo hi from busybox; ls /bin/busybox",
        ],
        opts,
      );
      expect(out).toBe("hi from busybox\n/bin/busybox\n");
    } finally {
      execFileSync("buildah", [...global, "rm", ctr], opts);
    }
    // Push once more under a tag of this test's own: other tests clear the relay's history, so
    // the worker's first push may no longer be in it.
    const tag = `notify-${Date.now()}`;
    const digestFile = `${baseImage.storageDir}/${tag}.digest`;
    execFileSync(
      "buildah",
      [
        ...global,
        "push",
        "--quiet",
        "--tls-verify=false",
        "--authfile",
        infra.registry.authFile,
        "--digestfile",
        digestFile,
        baseImage.ref,
        `docker://${infra.registry.address}/base/busybox:${tag}`,
      ],
      opts,
    );
    const event = await infra.notifications.waitForEvent(
      (e) => e.action === "push" && e.target.repository === "base/busybox" && e.target.tag === tag,
    );
    expect(event.target.digest).toBe(readFileSync(digestFile, "utf8").trim());
    const delivery = infra.notifications.received.find((n) => n.body.events?.includes(event));
    expect(delivery?.headers.authorization).toBe(`Bearer ${registryNotificationToken}`);
  });

  test("makes a git repository with a fixed author and executable scripts", async () => {
    const files = { "README.md": "hello\n", ".s2i/bin/assemble": "#!/bin/sh\necho assembling\n" };
    await using repo = await makeGitRepo(files);
    expect(repo.url).toBe(`file://${repo.dir}`);
    const head = execFileSync("git", ["ls-remote", repo.url, "HEAD"], { encoding: "utf8" }).split(
      "\t",
    )[0];
    expect(head).toBe(repo.commit);
    const again = await makeGitRepo(files);
    expect(again.commit).toBe(repo.commit); // fixed author and dates: same files, same sha
    await again.remove();
    const mode = execFileSync("git", ["-C", repo.dir, "ls-files", "-s", ".s2i/bin/assemble"], {
      encoding: "utf8",
    });
    expect(mode.startsWith("100755")).toBe(true);
    expect(await readFile(join(repo.dir, "README.md"), "utf8")).toBe("hello\n");
  });
});
