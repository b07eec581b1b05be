/**
 * `kiln create token`, `kiln get tokens`, `kiln delete token` as a user runs them, against the
 * real api (in-process, on a loopback port) with a real PostgreSQL and NATS.
 */
import { expect } from "vitest";
import { runCli } from "@kiln/cli";
import { bootstrapToken, test, type TenantApi } from "../support/tenant-api.js";

async function kiln(api: TenantApi, token: string, ...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, {
    env: { KILN_API_URL: api.url, KILN_TOKEN: token, KILN_NAMESPACE: "default" },
    // No `.kiln/env` above `/`: only the environment above counts.
    cwd: "/",
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  });
  return { code, stdout, stderr };
}

test("a token is created with its roles, printed once, listed without it, and revoked", async ({
  kiln: api,
}) => {
  const created = await kiln(
    api,
    bootstrapToken,
    "create",
    "token",
    "ci",
    "--namespace",
    "team-a",
    "--role",
    "edit",
    "-n",
    "team-b",
    "--role",
    "view",
  );
  expect(created.code).toBe(0);
  const token = created.stdout.trim();
  expect(token).toMatch(/^kiln_[A-Za-z0-9_-]{43}$/);
  expect(created.stderr).toBe(
    'token "ci" created (edit in team-a, view in team-b); it is shown this once: keep it now (KILN_TOKEN)\n',
  );

  const listed = await kiln(api, bootstrapToken, "get", "tokens");
  expect(listed.stdout).toMatch(/^NAME\s+ROLES\s+CREATED BY\s+AGE\n/);
  expect(listed.stdout).toMatch(/\nci\s+team-a=edit,team-b=view\s+bootstrap\s+/);
  expect(
    listed.stdout + (await kiln(api, bootstrapToken, "get", "tokens", "-o", "json")).stdout,
  ).not.toContain(token.slice("kiln_".length));

  // The token works where it has a role, and is refused where it has not.
  expect((await kiln(api, token, "get", "bc", "-n", "team-a")).stderr).toBe(
    "No resources found in team-a namespace.\n",
  );
  const refused = await kiln(api, token, "delete", "bc", "app", "-n", "team-b");
  expect(refused.code).toBe(1);
  expect(refused.stderr).toBe(
    'error: token "ci" may not delete BuildConfigs in namespace team-b (role view)\n',
  );

  expect(await kiln(api, bootstrapToken, "delete", "token", "ci")).toMatchObject({
    code: 0,
    stdout: 'token "ci" deleted\n',
  });
  const revoked = await kiln(api, token, "get", "bc", "-n", "team-a");
  expect(revoked.code).toBe(1);
  expect(revoked.stderr).toBe("error: the bearer token is unknown or was revoked\n");
});

test("a role without its namespace, or an unknown role, is refused and creates nothing", async ({
  kiln: api,
}) => {
  const unpaired = await kiln(
    api,
    bootstrapToken,
    "create",
    "token",
    "ci",
    "-n",
    "a",
    "-n",
    "b",
    "--role",
    "edit",
  );
  expect(unpaired).toMatchObject({
    code: 1,
    stderr: "error: give one --role for each --namespace, in order (2 namespaces, 1 role)\n",
  });
  const unknown = await kiln(
    api,
    bootstrapToken,
    "create",
    "token",
    "ci",
    "-n",
    "a",
    "--role",
    "owner",
  );
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toMatch(/^error: the request is invalid\n  roles\[0\]\.role: /);
  expect((await kiln(api, bootstrapToken, "get", "tokens")).stderr).toBe("No tokens found.\n");
});
