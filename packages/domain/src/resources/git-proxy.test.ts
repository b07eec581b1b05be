import { expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { parseResourceWithWarnings } from "./parse.js";

function issuesOf(git: Record<string, unknown>) {
  try {
    parseResourceWithWarnings({
      apiVersion: "build.openshift.io/v1",
      kind: "BuildConfig",
      metadata: { name: "app" },
      spec: {
        source: { git: { uri: "https://example.test/app.git", ...git } },
        strategy: { dockerStrategy: {} },
      },
    });
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  return [];
}

it("git proxies apply as OpenShift documents them", () => {
  expect(
    issuesOf({
      httpProxy: "http://user:pw@proxy.example.com:3128",
      httpsProxy: "https://proxy.example.com",
      noProxy: "somedomain.com, otherdomain.com",
    }),
  ).toEqual([]);
});

it("a proxy that is not an http(s) URL is refused, naming the field", () => {
  const message = "must be an http:// or https:// URL (the proxy git's clone goes through)";
  expect(issuesOf({ httpProxy: "proxy.example.com:3128", httpsProxy: "socks5://p:1080" })).toEqual([
    { path: "spec.source.git.httpProxy", message },
    { path: "spec.source.git.httpsProxy", message },
  ]);
});
