import { execFile } from "node:child_process";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, test } from "vitest";
import { freePort, PortInUseError, startRegistry, type RegistryServer } from "@kiln/infra";
import {
  buildahArgs,
  buildBusyboxImage,
  NotificationRelay,
  removeBuildahStore,
} from "@kiln/testing";
import { tempStateDir } from "./helpers.js";

const exec = promisify(execFile);

const manifestTypes = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
];

describe("startRegistry", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  test("answers /v2/, accepts a push and notifies the endpoint with the bearer token", async () => {
    const state = await tempStateDir();
    cleanups.push(state.remove);
    const relay = new NotificationRelay();
    await relay.start();
    cleanups.push(() => relay.stop());

    const registry = await startRegistry({
      stateDir: state.dir,
      port: await freePort(),
      notificationUrl: relay.url,
      notificationToken: "s3cret",
    });
    cleanups.push(() => registry.stop());

    const v2 = await fetch(`${registry.url}/v2/`);
    expect(v2.status).toBe(200);
    expect(v2.headers.get("docker-distribution-api-version")).toBe("registry/2.0");

    const storageDir = join(state.dir, "buildah");
    cleanups.push(() => removeBuildahStore(storageDir));
    const image = await buildBusyboxImage({
      storageDir,
      ref: `${registry.address}/demo/busybox:v1`,
    });
    expect(image.digest).toMatch(/^sha256:[0-9a-f]{64}$/);

    // The pushed manifest is served by tag, with the digest buildah reported.
    const manifest = await fetch(`${registry.url}/v2/demo/busybox/manifests/v1`, {
      method: "HEAD",
      headers: { accept: manifestTypes.join(", ") },
    });
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get("docker-content-digest")).toBe(image.digest);

    const event = await relay.waitForEvent(
      (e) =>
        e.action === "push" &&
        manifestTypes.includes(e.target.mediaType ?? "") &&
        e.target.tag === "v1",
    );
    expect(event.target).toMatchObject({
      repository: "demo/busybox",
      digest: image.digest,
      tag: "v1",
    });
    const delivery = relay.received.find((n) => n.body.events?.some((e) => e.id === event.id));
    expect(delivery?.headers.authorization).toBe("Bearer s3cret");
    expect(delivery?.headers["content-type"]).toMatch(
      /^application\/vnd\.docker\.distribution\.events\.v1\+json/,
    );
  });

  test("names the port and the flag when the port is busy", async () => {
    const state = await tempStateDir();
    cleanups.push(state.remove);
    const port = await freePort();
    const registry = await startRegistry({ stateDir: state.dir, port });
    cleanups.push(() => registry.stop());

    const err = await startRegistry({ stateDir: state.dir, port }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PortInUseError);
    expect((err as Error).message).toBe(
      `port ${port} for registry is already in use (choose another with --registry-port)`,
    );
  });

  describe("with Kiln's account", () => {
    const account = { username: "kiln", password: "pw-3b1f0c9e-kiln-registry" };
    const basic = (user: string, password: string) =>
      `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
    const kiln = basic(account.username, account.password);
    const accept = { accept: manifestTypes.join(", ") };
    const digestOf = async (registry: RegistryServer, tag: string) =>
      (
        await fetch(`${registry.url}/v2/demo/busybox/manifests/${tag}`, {
          method: "HEAD",
          headers: { authorization: kiln, ...accept },
        })
      ).headers.get("docker-content-digest");

    test("refuses anonymous and wrong-password pushes and pulls with 401, so a tag cannot be moved; the account pushes", async () => {
      const state = await tempStateDir();
      cleanups.push(state.remove);
      const relay = new NotificationRelay();
      await relay.start();
      cleanups.push(() => relay.stop());
      const registry = await startRegistry({
        stateDir: state.dir,
        port: await freePort(),
        credentials: account,
        notificationUrl: relay.url,
        notificationToken: "s3cret",
      });
      cleanups.push(() => registry.stop());
      const storageDir = join(state.dir, "buildah");
      cleanups.push(() => removeBuildahStore(storageDir));

      // With the account (the auth file it wrote): a push works, and is notified.
      const authFile = registry.authFile!;
      expect(JSON.parse(await readFile(authFile, "utf8"))).toEqual({
        auths: { [registry.address]: { auth: kiln.replace("Basic ", "") } },
      });
      const v1 = await buildBusyboxImage({
        storageDir,
        ref: `${registry.address}/demo/busybox:v1`,
        authFile,
      });
      const other = await buildBusyboxImage({
        storageDir,
        ref: `${registry.address}/demo/busybox:other`,
        authFile,
        files: { "/other": "another image\n" },
      });
      expect(other.digest).not.toBe(v1.digest);
      await relay.waitForEvent((e) => e.action === "push" && e.target.tag === "other");
      const otherManifest = await fetch(`${registry.url}/v2/demo/busybox/manifests/other`, {
        headers: { authorization: kiln, ...accept },
      });
      const manifest = {
        type: otherManifest.headers.get("content-type")!,
        body: Buffer.from(await otherManifest.arrayBuffer()),
      };
      relay.received.splice(0);

      // The attacker: another local user, with no credentials or a guessed password.
      for (const authorization of [undefined, basic("kiln", "guess"), basic("admin", "admin")]) {
        const headers: Record<string, string> = authorization ? { authorization } : {};
        const upload = await fetch(`${registry.url}/v2/demo/busybox/blobs/uploads/`, {
          method: "POST",
          headers,
        });
        expect(upload.status).toBe(401);
        expect(upload.headers.get("www-authenticate")).toBe('Basic realm="kiln"');
        expect(upload.headers.get("location")).toBeNull();
        const moved = await fetch(`${registry.url}/v2/demo/busybox/manifests/v1`, {
          method: "PUT",
          headers: { ...headers, "content-type": manifest.type },
          body: manifest.body,
        });
        expect(moved.status).toBe(401);
        const pulled = await fetch(`${registry.url}/v2/demo/busybox/manifests/v1`, {
          headers: { ...headers, ...accept },
        });
        expect(pulled.status).toBe(401);
        expect((await fetch(`${registry.url}/v2/_catalog`, { headers })).status).toBe(401);
      }
      // buildah without the auth file, or with a wrong password, is refused too.
      for (const creds of [[], ["--creds", "kiln:guess"]]) {
        const pushed = await exec("buildah", [
          ...buildahArgs(storageDir),
          "push",
          "--tls-verify=false",
          ...creds,
          other.ref,
          `docker://${registry.address}/demo/busybox:v1`,
        ]).catch((e: { stderr: string }) => e);
        expect((pushed as { stderr: string }).stderr).toMatch(
          new RegExp(`${registry.address}/demo/busybox: unauthorized: authentication required`),
        );
      }
      // The tag did not move, and nobody was told it did.
      expect(await digestOf(registry, "v1")).toBe(v1.digest);
      expect(
        relay.received.flatMap((n) => n.body.events ?? []).filter((e) => e.action === "push"),
      ).toEqual([]);

      // The same PUT with the account moves it: only the credentials stood in the way.
      const byKiln = await fetch(`${registry.url}/v2/demo/busybox/manifests/v1`, {
        method: "PUT",
        headers: { authorization: kiln, "content-type": manifest.type },
        body: manifest.body,
      });
      expect(byKiln.status).toBe(201);
      expect(await digestOf(registry, "v1")).toBe(other.digest);
    });

    test("keeps its directory, config, htpasswd, auth file and log owner-only, also those an earlier run left readable", async () => {
      const state = await tempStateDir();
      cleanups.push(state.remove);
      // What an older Kiln left: world-readable files holding the notification token.
      const dir = join(state.dir, "registry");
      const logFile = join(state.dir, "logs", "registry.log");
      await mkdir(dir, { recursive: true, mode: 0o755 });
      await mkdir(join(state.dir, "logs"), { recursive: true });
      await writeFile(join(dir, "config.yml"), "old", { mode: 0o644 });
      await writeFile(logFile, "an older run's lines\n", { mode: 0o644 });
      await chmod(dir, 0o755);

      const registry = await startRegistry({
        stateDir: state.dir,
        port: await freePort(),
        credentials: account,
        notificationUrl: "http://127.0.0.1:9/unused",
        notificationToken: "tok-7d2e-notifications",
      });
      cleanups.push(() => registry.stop());
      const mode = async (path: string) => (await stat(path)).mode & 0o777;
      expect(await mode(dir)).toBe(0o700);
      for (const file of ["config.yml", "htpasswd", "auth.json"])
        expect(await mode(join(dir, file)), file).toBe(0o600);
      expect(await mode(logFile)).toBe(0o600);
      // Why: the config holds the notification token. The log does not (distribution logs the
      // endpoints' headers at info, and the registry logs at warn), but it is owner-only anyway.
      expect(await readFile(join(dir, "config.yml"), "utf8")).toContain("tok-7d2e-notifications");
      await new Promise((r) => setTimeout(r, 500));
      expect(await readFile(logFile, "utf8")).not.toContain("tok-7d2e-notifications");
      // The htpasswd file holds a bcrypt hash, never the password.
      const htpasswd = await readFile(join(dir, "htpasswd"), "utf8");
      expect(htpasswd).toMatch(/^kiln:\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}\n$/);
      expect(htpasswd).not.toContain(account.password);
    });
  });
});
