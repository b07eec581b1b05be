/**
 * The web console in a real browser: Debian's Chromium driven by playwright-core, against the
 * real api, scheduler, build-runner and image-watcher (started as `kiln up` starts them), real
 * builds with buildah, NATS, PostgreSQL and the registry. Screenshots go to test-results/console/.
 */
import { join } from "node:path";
import { afterEach, expect } from "vitest";
import type { Browser, Page } from "playwright-core";
import { integrationTest as test, type NotificationRelay } from "@kiln/testing";
import { launchChromium, screenshotDir } from "../support/browser.js";
import { api, startKiln, waitForBuild, type RunningKiln } from "../support/kiln-services.js";

let running: RunningKiln | undefined;
let browser: Browser | undefined;
let relay: NotificationRelay | undefined;
afterEach(async () => {
  await browser?.close();
  browser = undefined;
  relay?.forwardTo(undefined);
  await running?.stop();
  running = undefined;
});

/** `base` prints `lines` log lines and pushes base:latest; `app` is built FROM it and follows it. */
function chain(baseRef: string, lines: number) {
  return [
    { apiVersion: "kiln.dev/v1", kind: "ImageStream", metadata: { name: "base" } },
    { apiVersion: "kiln.dev/v1", kind: "ImageStream", metadata: { name: "app" } },
    {
      apiVersion: "kiln.dev/v1",
      kind: "BuildConfig",
      metadata: { name: "base" },
      spec: {
        source: {
          dockerfile: `FROM ${baseRef}\nRUN i=0; while [ $i -lt ${lines} ]; do i=$((i+1)); echo "log line $i"; done; sleep 2\n`,
        },
        strategy: { type: "Docker", dockerStrategy: {} },
        output: { to: { kind: "ImageStreamTag", name: "base:latest" } },
        triggers: [{ type: "GitHub", github: { secret: "s3cret-value-never-shown" } }],
      },
    },
    {
      apiVersion: "kiln.dev/v1",
      kind: "BuildConfig",
      metadata: { name: "app" },
      spec: {
        source: {
          dockerfile: "FROM replaced-by-strategy-from\nRUN echo app > /app.txt; sleep 2\n",
        },
        strategy: {
          type: "Docker",
          dockerStrategy: { from: { kind: "ImageStreamTag", name: "base:latest" } },
        },
        output: { to: { kind: "ImageStreamTag", name: "app:latest" } },
        triggers: [{ type: "ImageChange" }],
      },
    },
  ];
}

async function logIn(page: Page, kiln: RunningKiln, token: string) {
  await page.goto(`${kiln.apiUrl}/console/`);
  await page.getByPlaceholder("kiln_…").fill(token);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByTestId("subject").waitFor();
}

test("a user logs in, starts a build, watches it and its log live, and sees the chained build light up on the graph", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  running = await startKiln({
    infra,
    databaseUrl: database.url,
    subjectPrefix,
    services: ["api", "scheduler", "build-runner", "image-watcher"],
  });
  relay = infra.notifications;
  relay.forwardTo(`${running.imageWatcherUrl}/registry/notifications`);
  const call = api(running);
  expect((await call("POST", "/apis/v1/apply", { items: chain(baseImage.ref, 3000) })).status).toBe(
    200,
  );
  const shots = await screenshotDir();
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  // A script error anywhere in the console fails the test, whatever the page then shows.
  const scriptErrors: string[] = [];
  context.on("weberror", (error) => scriptErrors.push(String(error.error())));

  // Without a login: the login page (at a deep link too), and the API gives the browser nothing.
  await page.goto(`${running.apiUrl}/console/#/ns/default/buildconfigs`);
  await expect(page.getByTestId("login").isVisible()).resolves.toBe(true);
  const anonymous = await page.evaluate(async () => {
    const response = await fetch("/apis/v1/namespaces/default/buildconfigs");
    return response.status;
  });
  expect(anonymous).toBe(401);
  await page.getByPlaceholder("kiln_…").fill("kiln_not-a-token");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("alert").waitFor();
  expect(await page.getByRole("alert").textContent()).toContain("unknown or was revoked");

  // Logged in where the link pointed: the page it names, read afresh after the refusals.
  await page.getByPlaceholder("kiln_…").fill(running.token);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByTestId("subject").waitFor();
  const rows = page.getByTestId("buildconfigs").locator("tbody tr");
  await expect.poll(() => rows.count()).toBe(2);

  // The chain graph, in a second tab, left open: nothing has been built yet.
  const graph = await context.newPage();
  await graph.setViewportSize({ width: 1280, height: 600 });
  await graph.goto(`${running.apiUrl}/console/#/ns/default/graph`);
  await graph.locator('[data-node="default/app"]').waitFor();
  expect(await graph.locator('[data-node="default/app"]').getAttribute("data-phase")).toBe("");

  // The BuildConfig's page: webhook URLs without the secret.
  await page.getByRole("link", { name: "base", exact: true }).click();
  await page.getByTestId("webhooks").waitFor();
  const hooks = await page.getByTestId("webhooks").textContent();
  expect(hooks).toContain(`${running.webhookUrl}/hooks/default/base/github`);
  expect(hooks).toContain("/webhooks/<secret>/github");
  expect(await page.content()).not.toContain("s3cret-value-never-shown");

  // Start: the page goes to the new build, which runs and completes while we watch.
  await page.getByTestId("start-build").click();
  await page.waitForURL(/#\/ns\/default\/builds\/base-1$/);
  const phase = page.locator("h1 [data-phase]");
  await page.locator('h1 [data-phase="Running"]').waitFor({ timeout: 60_000 });
  await page.screenshot({ path: join(shots, "build-running.png") });
  await page.locator('h1 [data-phase="Complete"]').waitFor({ timeout: 120_000 });
  expect(await phase.getAttribute("data-phase")).toBe("Complete");
  // The log followed to its end: every line, in order.
  await expect
    .poll(() => page.getByTestId("log").textContent(), { timeout: 20_000 })
    .toContain("log line 3000\n");
  const log = (await page.getByTestId("log").textContent()) ?? "";
  const numbered = log.split("\n").filter((line) => /^log line \d+$/.test(line));
  expect(numbered).toHaveLength(3000);
  expect(numbered[0]).toBe("log line 1");
  expect(log).toContain("--> Push");
  // Steps with their durations, and the digest that was pushed.
  const steps = await page.getByTestId("steps").textContent();
  expect(steps).toMatch(/Build\s*[\d.]+ (ms|s)/);
  const built = await waitForBuild(call, "base-1", (p) => p === "Complete");
  expect(await page.getByTestId("digest").textContent()).toContain(built.status.output.digest);
  await page.screenshot({ path: join(shots, "build-complete.png"), fullPage: true });

  // A reload shows the same log, once.
  await page.reload();
  await expect.poll(() => page.getByTestId("log-lines").textContent()).toMatch(/^\d+ lines$/);
  await expect
    .poll(
      async () =>
        ((await page.getByTestId("log").textContent()) ?? "").split("log line 3000\n").length,
    )
    .toBe(2);

  // The chained build: app rebuilds from base's new image. The graph, open in another tab since
  // before base was started and never reloaded, lights it up as it happens.
  await waitForBuild(call, "app-1", (p) => p === "Running" || p === "Complete", 180_000);
  await expect
    .poll(() => graph.locator('[data-node="default/app"]').getAttribute("data-phase"), {
      timeout: 20_000,
    })
    .toMatch(/^(Pending|Running|Complete)$/);
  await graph.screenshot({ path: join(shots, "graph-chained-build.png") });
  await waitForBuild(call, "app-1", (p) => p === "Complete", 180_000);
  const appNode = graph.locator('[data-node="default/app"]');
  await expect.poll(() => appNode.getAttribute("data-phase"), { timeout: 20_000 }).toBe("Complete");
  expect(await graph.locator('[data-node="default/base"]').getAttribute("data-phase")).toBe(
    "Complete",
  );
  await graph.bringToFront();
  // The impact of a change to base:latest: app, highlighted.
  await graph.getByTestId("impact").selectOption("default/base:latest");
  await expect.poll(() => appNode.getAttribute("data-impacted")).toBe("true");
  expect(await graph.locator('[data-node="default/base"]').getAttribute("data-impacted")).toBe(
    "false",
  );

  // The chained build's cause links to the build that pushed its base.
  await page.goto(`${running.apiUrl}/console/#/ns/default/builds/app-1`);
  await page.getByTestId("pushed-by").waitFor();
  expect(await page.getByTestId("pushed-by").textContent()).toBe("base-1");

  // The link a commit status carries (KILN_PUBLIC_URL/console/ns/NS/builds/NAME) opens the build.
  await page.goto(`${running.apiUrl}/console/ns/default/builds/base-1`);
  await page.locator('h1 [data-phase="Complete"]').waitFor();
  expect(await page.locator("h1").textContent()).toContain("Build default/base-1");

  // ImageStreams: base:latest's history names the build that pushed it.
  await page.goto(`${running.apiUrl}/console/#/ns/default/imagestreams`);
  const baseStream = page.locator('[data-imagestream="base"]');
  await baseStream.waitFor();
  expect(await baseStream.textContent()).toMatch(/Build by base-1/);
  await page.screenshot({ path: join(shots, "imagestreams.png"), fullPage: true });
  // The BuildConfig's history, newest first.
  await page.goto(`${running.apiUrl}/console/#/ns/default/buildconfigs/app`);
  await page.locator('[data-testid="history"] [data-build="app-1"]').waitFor();
  await page.screenshot({ path: join(shots, "buildconfig.png"), fullPage: true });

  // Webhook deliveries and deploys: their tables, empty here, and no error.
  for (const [section, table] of [
    ["webhooks", "deliveries"],
    ["deploys", "deploys"],
  ] as const) {
    await page.goto(`${running.apiUrl}/console/#/ns/default/${section}`);
    await page.getByTestId(table).waitFor();
    expect(await page.getByRole("alert").count()).toBe(0);
  }

  // A build that does not exist: a clear 404 on the page.
  await page.goto(`${running.apiUrl}/console/#/ns/default/builds/nope-7`);
  await page.getByRole("alert").waitFor();
  expect(await page.getByRole("alert").textContent()).toMatch(/Not found.*nope-7/);
  expect(scriptErrors).toEqual([]);
});

test("a followed log survives an api restart, and a token of another namespace sees nothing of this one", async ({
  infra,
  baseImage,
  database,
  subjectPrefix,
}) => {
  running = await startKiln({ infra, databaseUrl: database.url, subjectPrefix });
  const call = api(running);
  const items = chain(baseImage.ref, 0);
  const slow = {
    ...items[2]!,
    metadata: { name: "slow" },
    spec: {
      ...(items[2] as { spec: object }).spec,
      source: {
        dockerfile: `FROM ${baseImage.ref}\nRUN for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo "tick $i"; sleep 1; done\n`,
      },
      output: { to: { kind: "ImageStreamTag", name: "slow:latest" } },
    },
  };
  expect((await call("POST", "/apis/v1/apply", { items: [items[0], slow] })).status).toBe(200);
  const other = await call("POST", "/apis/v1/tokens", {
    name: "team-b-viewer",
    roles: [{ namespace: "team-b", role: "view" }],
  });
  expect(other.status).toBe(201);

  browser = await launchChromium();
  const page = await browser.newPage();
  await logIn(page, running, running.token);
  expect(
    (await call("POST", "/apis/v1/namespaces/default/buildconfigs/slow/instantiate", {})).status,
  ).toBe(201);
  await page.goto(`${running.apiUrl}/console/#/ns/default/builds/slow-1`);
  await expect
    .poll(() => page.getByTestId("log").textContent(), { timeout: 60_000 })
    .toContain("tick 2");

  await running.restart("api");
  await page.locator('h1 [data-phase="Complete"]').waitFor({ timeout: 120_000 });
  await expect
    .poll(() => page.getByTestId("log").textContent(), { timeout: 20_000 })
    .toContain("tick 12");
  const ticks = ((await page.getByTestId("log").textContent()) ?? "")
    .split("\n")
    .filter((line) => /^tick \d+$/.test(line));
  expect(ticks).toEqual(Array.from({ length: 12 }, (_, i) => `tick ${i + 1}`));

  // Another namespace's viewer: its namespaces only, and this namespace's data is refused.
  const outsider = await browser.newPage();
  await logIn(outsider, running, other.json.token as string);
  expect(await outsider.getByTestId("namespace").locator("option").allTextContents()).toEqual([
    "team-b",
  ]);
  await outsider.goto(`${running.apiUrl}/console/#/ns/default/builds/slow-1`);
  await outsider.getByRole("alert").waitFor();
  expect(await outsider.getByRole("alert").textContent()).toContain("Forbidden");
  expect(await outsider.content()).not.toContain("tick 1");
  const events = await outsider.evaluate(async () => {
    const response = await fetch("/apis/v1/namespaces/default/events");
    return response.status;
  });
  expect(events).toBe(403);
  // Nothing in the browser can change anything without the console's header.
  const forged = await outsider.evaluate(async () => {
    const response = await fetch("/apis/v1/namespaces/team-b/buildconfigs/x/instantiate", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    return response.status;
  });
  expect(forged).toBe(403);

  // A token revoked while its event stream is open: the stream ends within seconds.
  const viewer = await call("POST", "/apis/v1/tokens", {
    name: "default-viewer",
    roles: [{ namespace: "default", role: "view" }],
  });
  const stream = await fetch(`${running.apiUrl}/apis/v1/namespaces/default/events`, {
    headers: { authorization: `Bearer ${viewer.json.token as string}` },
  });
  expect(stream.status).toBe(200);
  const reader = stream.body!.getReader();
  expect(new TextDecoder().decode((await reader.read()).value)).toContain("event: ready");
  expect((await call("DELETE", "/apis/v1/tokens/default-viewer")).status).toBe(200);
  const revokedAt = Date.now();
  for (;;) {
    const { done } = await reader.read();
    if (done) break;
  }
  expect(Date.now() - revokedAt).toBeLessThan(10_000);
});
