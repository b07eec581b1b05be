import { describe, expect, it } from "vitest";
import type { BuilderTemplate } from "../resources.js";
import { detectBuild } from "./detect.js";

const template = (name: string, files: string[], namespace = "openshift"): BuilderTemplate => ({
  metadata: { name, namespace },
  spec: {
    codeFramework: name,
    versions: [{ name: "1", builderImage: { kind: "DockerImage", name: `b/${name}:1` } }],
    detect: { files },
  },
});
const templates = [
  template("go", ["go.mod"]),
  template("nodejs", ["package.json"]),
  template("java", ["pom.xml", "build.gradle"]),
  template("python", ["requirements.txt", "setup.py", "pyproject.toml"]),
];
const nameOf = (d: ReturnType<typeof detectBuild>) =>
  d.strategy === "source" ? d.template.metadata.name : "docker";

describe("detectBuild", () => {
  it.each([
    [["go.mod", "main.go", "README.md"], "go"],
    [["package.json", "index.js"], "nodejs"],
    [["build.gradle", "src"], "java"],
    [["pyproject.toml"], "python"],
    [["Dockerfile", "go.mod"], "docker"],
  ])("%j builds with %s", (files, expected) => {
    expect(nameOf(detectBuild(files, templates))).toBe(expected);
  });

  it("says which files selected the template", () => {
    expect(detectBuild(["pom.xml", "build.gradle"], templates)).toMatchObject({
      strategy: "source",
      matched: ["pom.xml", "build.gradle"],
    });
  });

  it("--strategy source ignores the Dockerfile; --strategy docker needs one", () => {
    expect(nameOf(detectBuild(["Dockerfile", "go.mod"], templates, { strategy: "source" }))).toBe(
      "go",
    );
    expect(() => detectBuild(["go.mod"], templates, { strategy: "docker" })).toThrow(
      "--strategy docker needs a Dockerfile at the top of the repository, and it has none",
    );
  });

  it("--template wins over the files, and must exist", () => {
    expect(nameOf(detectBuild(["Dockerfile"], templates, { template: "python" }))).toBe("python");
    expect(() => detectBuild([], templates, { template: "ruby" })).toThrow(
      "no BuilderTemplate ruby (templates: go, nodejs, java, python)",
    );
    expect(() => detectBuild([], templates, { template: "go", strategy: "docker" })).toThrow(
      "--template builds with the Source strategy: drop --strategy docker",
    );
  });

  it("no match names the candidates and what the repository holds", () => {
    expect(() => detectBuild(["README.md", "main.c"], templates)).toThrow(
      "no BuilderTemplate matches the repository (it has README.md, main.c); candidates: go (go.mod); nodejs (package.json); java (pom.xml, build.gradle); python (requirements.txt, setup.py, pyproject.toml); name one with --template, or add a Dockerfile",
    );
    expect(() => detectBuild([], [])).toThrow(
      "no BuilderTemplate matches the repository (it is empty); candidates: none (kiln get templates)",
    );
  });

  it("several matches are an error naming each with its files", () => {
    let message = "";
    try {
      detectBuild(["package.json", "requirements.txt"], templates);
    } catch (error) {
      message = (error as Error).message;
      expect((error as { reason: string }).reason).toBe("NotDetected");
    }
    expect(message).toBe(
      "several BuilderTemplates match the repository: nodejs (package.json); python (requirements.txt); pick one with --template",
    );
  });
});
