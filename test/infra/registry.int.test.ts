import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { freePort, PortInUseError, startRegistry } from "@kiln/infra";
import { buildBusyboxImage, NotificationRelay, removeBuildahStore } from "@kiln/testing";
import { tempStateDir } from "./helpers.js";

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
});
