import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { parseResourceWithWarnings } from "./parse.js";
import { resolveStatusTarget } from "./status-reporting.js";

const token = { secretRef: { name: "host-token" } };

describe("resolveStatusTarget", () => {
  it.each([
    ["https://github.com/acme/app.git", "github", "https://api.github.com", "acme/app"],
    ["git@github.com:acme/app.git", "github", "https://api.github.com", "acme/app"],
    [
      "ssh://git@gitlab.com/group/sub/app.git",
      "gitlab",
      "https://gitlab.com/api/v4",
      "group/sub/app",
    ],
    ["https://bitbucket.org/team/app", "bitbucket", "https://api.bitbucket.org/2.0", "team/app"],
  ])("infers the provider, API and repository of %s", (uri, provider, apiUrl, repository) => {
    expect(resolveStatusTarget(uri, {})).toEqual({ target: { provider, apiUrl, repository } });
  });

  it("derives a self-hosted server's API from the repository's web address", () => {
    expect(
      resolveStatusTarget("http://git.example.test:3000/o/r.git", { provider: "gitea" }),
    ).toEqual({
      target: {
        provider: "gitea",
        apiUrl: "http://git.example.test:3000/api/v1",
        repository: "o/r",
      },
    });
    expect(
      resolveStatusTarget("git@ghe.example.test:o/r.git", { provider: "github" }).target?.apiUrl,
    ).toBe("https://ghe.example.test/api/v3");
  });

  it("takes the given url and repository as they are (a mirror, a local path)", () => {
    expect(
      resolveStatusTarget("file:///srv/mirror.git", {
        provider: "gitlab",
        url: "https://gitlab.example.test/api/v4/",
        repository: "team/app",
      }),
    ).toEqual({
      target: {
        provider: "gitlab",
        apiUrl: "https://gitlab.example.test/api/v4",
        repository: "team/app",
      },
    });
  });

  it("names the field a user must set when it cannot be told", () => {
    expect(resolveStatusTarget("https://git.example.test/o/r.git", {}).issue?.path).toBe(
      "provider",
    );
    expect(resolveStatusTarget("https://github.com/o/r.git", { provider: "gitlab" }).issue).toEqual(
      {
        path: "provider",
        message: "github.com is github, not gitlab",
      },
    );
    expect(
      resolveStatusTarget("https://bb.example.test/o/r.git", { provider: "bitbucket" }).issue?.path,
    ).toBe("url");
    expect(resolveStatusTarget("/srv/repo.git", { provider: "gitea" }).issue?.path).toBe("url");
    expect(
      resolveStatusTarget("/srv/repo.git", {
        provider: "gitea",
        url: "http://127.0.0.1:3000/api/v1",
      }).issue?.path,
    ).toBe("repository");
    expect(resolveStatusTarget("https://github.com/just-owner", {}).issue?.path).toBe("repository");
  });
});

function buildConfig(apiVersion: string, statusReporting: unknown) {
  return {
    apiVersion,
    kind: "BuildConfig",
    metadata: { name: "app" },
    spec: {
      source: { git: { uri: "https://git.example.test/acme/app.git", statusReporting } },
      strategy: { type: "Docker" },
    },
  };
}

describe("spec.source.git.statusReporting at apply", () => {
  it("is kept, in Kiln's documents and OpenShift's alike, with no warning", () => {
    for (const apiVersion of ["kiln.dev/v1", "build.openshift.io/v1"]) {
      const reporting = { ...token, provider: "gitea" };
      const { resource, warnings } = parseResourceWithWarnings(buildConfig(apiVersion, reporting));
      expect(warnings).toEqual([]);
      expect(resource.kind === "BuildConfig" && resource.spec.source.git?.statusReporting).toEqual(
        reporting,
      );
    }
  });

  it("refuses what cannot work, naming the field", () => {
    const issues = (statusReporting: unknown) => {
      try {
        parseResourceWithWarnings(buildConfig("kiln.dev/v1", statusReporting));
      } catch (error) {
        if (error instanceof ValidationError) return error.issues;
        throw error;
      }
      return [];
    };
    expect(issues(token)).toEqual([
      {
        path: "spec.source.git.statusReporting.provider",
        message: "required: github, gitlab, gitea, bitbucket cannot be told from git.example.test",
      },
    ]);
    expect(issues({ ...token, provider: "gitee" })[0]?.path).toBe(
      "spec.source.git.statusReporting.provider",
    );
    expect(issues({ ...token, provider: "gitea", url: "ftp://x" })).toEqual([
      { path: "spec.source.git.statusReporting.url", message: "must be an http(s) URL" },
    ]);
    expect(issues({ provider: "gitea" })).toEqual([
      { path: "spec.source.git.statusReporting.secretRef", message: "required" },
    ]);
  });
});
