import { describe, expect, it } from "vitest";
import type { BuilderTemplate } from "../resources.js";
import { nameFromRepository, renderNewBuild } from "./render.js";

const go: BuilderTemplate = {
  metadata: { name: "go", namespace: "openshift" },
  spec: {
    codeFramework: "go",
    versions: [
      { name: "1.22", builderImage: { kind: "ImageStreamTag", name: "golang:1.22" } },
      {
        name: "1.23",
        builderImage: { kind: "ImageStreamTag", name: "golang:1.23" },
        runtimeImage: { kind: "DockerImage", name: "reg.test/base:1" },
        runtimeArtifacts: [{ sourcePath: "/opt/app-root/app" }],
      },
    ],
    defaultVersion: "1.23",
    env: [{ name: "CGO_ENABLED", value: "0" }],
    detect: { files: ["go.mod"] },
  },
};
const base = {
  namespace: "team-a",
  name: "api",
  git: { uri: "https://git.test/api.git", ref: "main" },
  webhookSecret: "s3cret",
  createImageStream: true,
};

describe("renderNewBuild", () => {
  it("a Source BuildConfig from the default version, its ImageStreamTag pinned to the template's namespace", () => {
    const [is, bc] = renderNewBuild({
      ...base,
      detected: { strategy: "source", template: go, matched: ["go.mod"] },
    }) as any[];
    expect(is).toMatchObject({
      kind: "ImageStream",
      metadata: { name: "api", namespace: "team-a" },
    });
    expect(bc.metadata.annotations["kiln.dev/builder-template"]).toBe("go:1.23");
    expect(bc.spec).toEqual({
      source: { type: "Git", git: { uri: "https://git.test/api.git", ref: "main" } },
      strategy: {
        type: "Source",
        sourceStrategy: {
          from: { kind: "ImageStreamTag", name: "golang:1.23", namespace: "openshift" },
          env: [{ name: "CGO_ENABLED", value: "0" }],
          runtimeImage: { kind: "DockerImage", name: "reg.test/base:1" },
          runtimeArtifacts: [{ sourcePath: "/opt/app-root/app" }],
        },
      },
      output: { to: { kind: "ImageStreamTag", name: "api:latest" } },
      triggers: [
        { type: "ConfigChange" },
        { type: "GitHub", github: { secret: "s3cret" } },
        { type: "Generic", generic: { secret: "s3cret" } },
      ],
    });
  });

  it("Docker strategy, --to, an existing ImageStream left out", () => {
    const docs = renderNewBuild({
      ...base,
      detected: { strategy: "docker" },
      to: "web:v1",
      createImageStream: false,
    }) as any[];
    expect(docs).toHaveLength(1);
    expect(docs[0].spec.strategy).toEqual({ type: "Docker", dockerStrategy: {} });
    expect(docs[0].spec.output.to.name).toBe("web:v1");
  });

  it("refuses what cannot be built: a bad --to, --runtime-image on a Docker build", () => {
    expect(() => renderNewBuild({ ...base, detected: { strategy: "docker" }, to: "Web" })).toThrow(
      "--to Web: must be IMAGESTREAM:TAG (e.g. api:latest)",
    );
    expect(() =>
      renderNewBuild({ ...base, detected: { strategy: "docker" }, runtimeImage: "x" }),
    ).toThrow("--runtime-image is for the Source strategy (a template's builder)");
  });
});

describe("nameFromRepository", () => {
  it.each([
    ["https://github.com/sclorg/nodejs-ex.git", "nodejs-ex"],
    ["git@github.com:acme/My_App.git#v2", "my-app"],
    ["/srv/repos/static-site/", "static-site"],
    ["file:///tmp/Hello.World", "hello-world"],
  ])("%s → %s", (repo, name) => expect(nameFromRepository(repo)).toBe(name));

  it("asks for --name when nothing is left", () => {
    expect(() => nameFromRepository("https://git.test/___.git")).toThrow("give one with --name");
  });
});
