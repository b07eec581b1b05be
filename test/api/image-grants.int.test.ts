/**
 * Cross-namespace images, from the attacker's side: a BuildConfig of team-b may push to and
 * follow another namespace's ImageStreams only while an ImageStreamGrant of that namespace
 * allows it: refused at apply, failed at dispatch when revoked since, and never triggered.
 * The real api and scheduler on a real PostgreSQL and NATS (no runner: builds stay Pending).
 */
import { expect } from "vitest";
import {
  buildConfig,
  eventually,
  imageStreamGrant,
  test,
  type Caller,
} from "../support/tenant-api.js";

const digest = (n: number) => `sha256:${String(n).padStart(64, "0")}`;

async function tagOf(call: Caller, key: string): Promise<string | undefined> {
  const [ns, rest] = key.split("/") as [string, string];
  const [is, tag] = rest.split(":");
  const res = await call("GET", `/apis/v1/namespaces/${ns}/imagestreams/${is}`);
  return res.json?.status?.tags?.find((t: any) => t.tag === tag)?.items?.[0]?.image;
}

/** The build once it exists and `until` holds of its phase (by default: as soon as it exists). */
async function build(
  call: Caller,
  ns: string,
  name: string,
  until: (phase: string) => boolean = () => true,
) {
  return eventually(async () => {
    const res = await call("GET", `/apis/v1/namespaces/${ns}/builds/${name}`);
    return res.status === 200 && until(res.json.status.phase) ? res.json : undefined;
  }, `build ${ns}/${name}`);
}
const dispatched = (phase: string) => phase !== "New";

test("team-b may push to default/hello:latest only while default grants it", async ({ kiln }) => {
  const { bootstrap } = kiln;
  await kiln.moveTag("default/hello:latest", digest(1));
  const teamB = kiln.as(await kiln.token("team-b-ci", "team-b=edit"));
  const defaultAdmin = kiln.as(await kiln.token("default-lead", "default=admin"));

  for (const bc of [
    buildConfig("team-b", "app", { to: "default/hello:latest" }),
    buildConfig("team-b", "app", {
      toDockerImage: `${kiln.infra.registry.address}/default/hello:latest`,
    }),
  ]) {
    const refused = await teamB("POST", "/apis/v1/apply", { items: [bc] });
    expect(refused.status).toBe(403);
    expect(refused.json).toMatchObject({
      error: "Forbidden",
      message:
        "BuildConfig team-b/app may not push to ImageStream default/hello (spec.output.to): no ImageStreamGrant in namespace default gives namespace team-b push",
      details: [{ path: "items[0].spec.output.to" }],
    });
  }
  // The bootstrap token applies the same: the grant is the namespace's, not the caller's.
  const pushing = buildConfig("team-b", "app", { to: "default/hello:latest" });
  expect((await bootstrap("POST", "/apis/v1/apply", { items: [pushing] })).status).toBe(403);
  expect((await bootstrap("GET", "/apis/v1/namespaces/team-b/buildconfigs")).json.items).toEqual(
    [],
  );
  expect(await tagOf(bootstrap, "default/hello:latest")).toBe(digest(1));
  // Only default's admin may grant it.
  const grant = imageStreamGrant("default", "team-b-builds", "team-b", ["push"]);
  expect((await teamB("POST", "/apis/v1/apply", { items: [grant] })).status).toBe(403);

  expect((await defaultAdmin("POST", "/apis/v1/apply", { items: [grant] })).status).toBe(200);
  expect((await teamB("POST", "/apis/v1/apply", { items: [pushing] })).status).toBe(200);
  const first = await teamB("POST", "/apis/v1/namespaces/team-b/buildconfigs/app/instantiate", {});
  expect(first.status).toBe(201);
  expect((await build(teamB, "team-b", "app-1", dispatched)).status.phase).toBe("Pending");

  // Revoked: the BuildConfig is still there, but its next build fails before it runs (once
  // app-1, which holds the Serial queue with no runner to run it, is out of the way).
  await teamB("POST", "/apis/v1/namespaces/team-b/builds/app-1/cancel");
  expect(
    (await defaultAdmin("DELETE", "/apis/v1/namespaces/default/imagestreamgrants/team-b-builds"))
      .status,
  ).toBe(200);
  await teamB("POST", "/apis/v1/namespaces/team-b/buildconfigs/app/instantiate", {});
  const second = await build(teamB, "team-b", "app-2", dispatched);
  expect(second.status).toMatchObject({
    phase: "Failed",
    reason: "ImageAccessDenied",
    message:
      "BuildConfig team-b/app may not push to ImageStream default/hello (spec.output.to): no ImageStreamGrant in namespace default gives namespace team-b push",
  });
  expect(await tagOf(bootstrap, "default/hello:latest")).toBe(digest(1));
});

test("a trigger on another namespace's tag fires only while a pull grant stands", async ({
  kiln,
}) => {
  const { bootstrap } = kiln;
  const follower = buildConfig("team-b", "app", { from: "default/base:latest", trigger: true });
  const refused = await bootstrap("POST", "/apis/v1/apply", { items: [follower] });
  expect(refused.status).toBe(403);
  expect(refused.json.details.map((d: any) => d.path)).toEqual([
    "items[0].spec.strategy.dockerStrategy.from",
  ]);

  const grant = imageStreamGrant("default", "team-b-pulls", "team-b", ["pull"]);
  // A BuildConfig of default follows the same tag: once it has built, the pass has run.
  const control = buildConfig("default", "control", { from: "base:latest", trigger: true });
  expect(
    (await bootstrap("POST", "/apis/v1/apply", { items: [grant, follower, control] })).status,
  ).toBe(200);
  await kiln.moveTag("default/base:latest", digest(1));
  expect((await build(bootstrap, "team-b", "app-1")).spec.triggeredBy[0].type).toBe("ImageChange");
  await build(bootstrap, "default", "control-1");

  await bootstrap("DELETE", "/apis/v1/namespaces/default/imagestreamgrants/team-b-pulls");
  await kiln.moveTag("default/base:latest", digest(2));
  // control-2 is made by the pass of digest(2): once it exists, app's chance has come and gone.
  await build(bootstrap, "default", "control-2");
  const builds = await bootstrap("GET", "/apis/v1/namespaces/team-b/builds");
  expect(builds.json.items.map((b: any) => b.metadata.name)).toEqual(["app-1"]);
});
