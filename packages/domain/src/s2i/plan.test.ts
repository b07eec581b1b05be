import { describe, expect, it } from "vitest";
import { BuildFailure } from "../errors.js";
import { parseUidRanges } from "./allowed-uids.js";
import { scriptsNotFoundMarker } from "./constants.js";
import type { ImageConfig } from "./image-config.js";
import { planS2IBuild, type S2IPlanInput } from "./plan.js";

const nonRoot = parseUidRanges("1-4294967294");
const builder = (over: Partial<ImageConfig> = {}): ImageConfig => ({
  labels: { "io.openshift.s2i.scripts-url": "image:///usr/libexec/s2i" },
  user: "1001",
  env: ["PATH=/bin"],
  workingDir: "/opt/app-root/src",
  ...over,
});
const input = (over: Partial<S2IPlanInput> = {}): S2IPlanInput => ({
  builderImage: "registry.local/s2i/builder:1",
  builder: builder(),
  strategy: {},
  source: { scripts: [], environment: null },
  allowedUids: nonRoot,
  outputImage: "registry.local/default/app:latest",
  outputLabels: [
    ["kiln.dev/buildconfig", "app"],
    ["io.openshift.build.commit.id", "abc"],
  ],
  ...over,
});

function failure(fn: () => unknown): BuildFailure {
  try {
    fn();
  } catch (e) {
    if (e instanceof BuildFailure) return e;
    throw e;
  }
  throw new Error("expected a BuildFailure");
}

describe("planS2IBuild: scripts", () => {
  it("uses the builder's scripts-url label, checks the image scripts and sets CMD to run", () => {
    const plan = planS2IBuild(input());
    expect(plan.scripts.assemble).toEqual({ from: "image", path: "/usr/libexec/s2i/assemble" });
    expect(plan.cmd).toEqual(["/usr/libexec/s2i/run"]);
    expect(plan.dockerfile).toContain(scriptsNotFoundMarker);
    expect(plan.dockerfile).toContain(`CMD ["/usr/libexec/s2i/run"]`);
    expect(plan.dockerfile).toMatch(/^FROM registry\.local\/s2i\/builder:1$/m);
  });
  it("falls back to the legacy label, then STI_SCRIPTS_URL, then /usr/libexec/s2i", () => {
    expect(
      planS2IBuild(
        input({ builder: builder({ labels: { "io.s2i.scripts-url": "image:///legacy" } }) }),
      ).cmd,
    ).toEqual(["/legacy/run"]);
    expect(
      planS2IBuild(
        input({ builder: builder({ labels: {}, env: ["STI_SCRIPTS_URL=image:///sti"] }) }),
      ).cmd,
    ).toEqual(["/sti/run"]);
    expect(planS2IBuild(input({ builder: builder({ labels: {} }) })).cmd).toEqual([
      "/usr/libexec/s2i/run",
    ]);
  });
  it("prefers the source's .s2i/bin script by script, uploading it to <dest>/scripts", () => {
    const plan = planS2IBuild(input({ source: { scripts: ["assemble"], environment: null } }));
    expect(plan.scripts.assemble).toEqual({ from: "source", path: "/tmp/scripts/assemble" });
    expect(plan.scripts.run).toEqual({ from: "image", path: "/usr/libexec/s2i/run" });
    expect(plan.uploadScripts).toEqual(["assemble"]);
    // upload/scripts lands as /tmp/scripts with the sources, in the one COPY of upload/.
    expect(plan.dockerfile).toContain("COPY --chown=1001:0 upload /tmp/\n");
  });
  it("lets the BuildConfig's image:// scripts win over the source and the image", () => {
    const plan = planS2IBuild(
      input({
        strategy: { scripts: "image:///custom" },
        source: { scripts: ["assemble", "run"], environment: null },
      }),
    );
    expect(plan.scripts.assemble.path).toBe("/custom/assemble");
    expect(plan.uploadScripts).toEqual([]);
  });
  it("refuses scripts that would need a download", () => {
    expect(
      failure(() => planS2IBuild(input({ strategy: { scripts: "https://example.com/s2i" } })))
        .reason,
    ).toBe("ScriptsFetchFailed");
    expect(
      failure(() =>
        planS2IBuild(
          input({ builder: builder({ labels: { "io.openshift.s2i.scripts-url": "http://x/y" } }) }),
        ),
      ).reason,
    ).toBe("ScriptsFetchFailed");
  });
  it("honours io.openshift.s2i.destination", () => {
    const plan = planS2IBuild(
      input({
        builder: builder({ labels: { "io.openshift.s2i.destination": "/opt/s2i" } }),
        source: { scripts: ["run"], environment: null },
      }),
    );
    expect(plan.destination).toBe("/opt/s2i");
    expect(plan.cmd).toEqual(["/opt/s2i/scripts/run"]);
    expect(plan.dockerfile).toContain("COPY --chown=1001:0 upload /opt/s2i/\n");
  });
});

describe("planS2IBuild: assemble user", () => {
  it("takes the assemble-user label over the image USER", () => {
    const plan = planS2IBuild(
      input({ builder: builder({ labels: { "io.openshift.s2i.assemble-user": "2000" } }) }),
    );
    expect(plan.assembleUser).toBe("2000");
    expect(plan.dockerfile).toContain("COPY --chown=2000:0 upload /tmp/\nUSER 2000\n");
  });
  it("refuses root, uid 0 and names under the allowed-uids rule", () => {
    for (const user of ["root", "0", "app"]) {
      const err = failure(() => planS2IBuild(input({ builder: builder({ user }) })));
      expect(err.reason).toBe("AssembleUserNotAllowed");
      expect(err.message).toContain("1-4294967294");
    }
    expect(
      failure(() =>
        planS2IBuild(
          input({ builder: builder({ labels: { "io.openshift.s2i.assemble-user": "root" } }) }),
        ),
      ).reason,
    ).toBe("AssembleUserNotAllowed");
  });
  it("allows root when the rule allows uid 0 or is empty", () => {
    expect(
      planS2IBuild(input({ builder: builder({ user: "0" }), allowedUids: parseUidRanges("0-") }))
        .assembleUser,
    ).toBe("0");
    expect(
      planS2IBuild(input({ builder: builder({ user: "root" }), allowedUids: [] })).assembleUser,
    ).toBe("root");
  });
  it("assembles as 1001 when the image names no user, as s2i --as-dockerfile does", () => {
    expect(planS2IBuild(input({ builder: builder({ user: "" }) })).assembleUser).toBe("1001");
  });
});

describe("planS2IBuild: environment and labels", () => {
  it("layers .s2i/environment, the strategy env and the build env, literally", () => {
    const plan = planS2IBuild(
      input({
        source: { scripts: [], environment: 'A=from-file\nB=$HOME "q"\nbad name=x\n' },
        strategy: { env: [{ name: "A", value: "from-bc" }] },
        buildEnv: [{ name: "C", value: "from-build" }],
      }),
    );
    expect(plan.env).toEqual([
      { name: "A", value: "from-bc" },
      { name: "B", value: '$HOME "q"' },
      { name: "C", value: "from-build" },
    ]);
    expect(plan.warnings.join()).toContain("bad name");
    expect(plan.dockerfile).toContain(
      'ENV A="from-bc" \\\n    B="\\$HOME \\"q\\"" \\\n    C="from-build"\n',
    );
  });
  it("sets a private env (a Secret's) from a build arg, never writing its value", () => {
    const plan = planS2IBuild(
      input({
        strategy: {
          env: [
            { name: "TOKEN", value: "s3cret" },
            { name: "A", value: "plain" },
          ],
        },
        privateEnv: new Set(["TOKEN"]),
      }),
    );
    expect(plan.privateArgs).toEqual([{ arg: "KILN_S2I_ENV_0", env: "TOKEN", value: "s3cret" }]);
    expect(plan.dockerfile).toContain(
      'ARG KILN_S2I_ENV_0\nENV TOKEN="${KILN_S2I_ENV_0}" \\\n    A="plain"\n',
    );
    expect(plan.dockerfile).not.toContain("s3cret");
  });
  it("labels the output, sorted, with the given labels winning", () => {
    const plan = planS2IBuild(input({ contextDir: "app" }));
    expect(plan.labels.map(([k]) => k)).toEqual([
      "io.k8s.display-name",
      "io.openshift.build.commit.id",
      "io.openshift.build.image",
      "io.openshift.build.source-context-dir",
      "io.openshift.s2i.scripts-url",
      "kiln.dev/buildconfig",
    ]);
    expect(Object.fromEntries(plan.labels)).toMatchObject({
      "io.openshift.build.image": "registry.local/s2i/builder:1",
      "io.openshift.s2i.scripts-url": "image:///usr/libexec/s2i",
      "io.k8s.display-name": "registry.local/default/app:latest",
    });
  });
});

describe("planS2IBuild: incremental", () => {
  it("copies saved artifacts to <dest>/artifacts before assemble and gives them to the assemble user", () => {
    const plan = planS2IBuild(input({ strategy: { incremental: true }, artifacts: true }));
    expect(plan.incremental).toBe(true);
    expect(plan.scripts.saveArtifacts.path).toBe("/usr/libexec/s2i/save-artifacts");
    expect(plan.dockerfile).toContain("COPY --chown=1001:0 upload /tmp/\nUSER 1001\n");
    // The artifacts feed assemble and are gone before the layer is committed.
    expect(plan.dockerfile).toContain(" && rm -rf '/tmp/artifacts'\n");
  });
  it("builds clean without artifacts", () => {
    expect(
      planS2IBuild(input({ strategy: { incremental: true }, artifacts: false })).dockerfile,
    ).not.toContain("artifacts");
  });
});

describe("planS2IBuild: runtime image", () => {
  const runtime = {
    image: "registry.local/base/runtime:1",
    config: builder({ labels: {}, user: "2000", workingDir: "/app" }),
  };
  it("copies the runtime artifacts into the runtime image's WORKDIR and leaves the builder behind", () => {
    const plan = planS2IBuild(
      input({
        runtime,
        strategy: {
          runtimeArtifacts: [
            { sourcePath: "/opt/app-root/out/app", destinationDir: "bin" },
            { sourcePath: "/opt/data/" },
          ],
        },
        source: { scripts: ["run"], environment: null },
      }),
    );
    expect(plan.runtime?.artifacts).toEqual([
      { sourcePath: "/opt/app-root/out/app", targetPath: "/app/bin/app" },
      { sourcePath: "/opt/data", targetPath: "/app/data" },
    ]);
    expect(plan.dockerfile).toMatch(/^FROM registry\.local\/s2i\/builder:1 AS builder$/m);
    expect(plan.dockerfile).toMatch(/^FROM registry\.local\/base\/runtime:1$/m);
    expect(plan.dockerfile).toContain(
      'COPY --from=builder --chown=2000:0 ["/opt/app-root/out/app","/app/bin/app"]\n',
    );
    expect(plan.dockerfile).toContain("USER 2000\n");
    expect(plan.cmd).toEqual(["/tmp/scripts/run"]);
    // Labels go on the final stage only.
    const [, builderStage = "", runtimeStage = ""] = plan.dockerfile.split("\nFROM ");
    expect(builderStage).not.toContain("LABEL");
    expect(runtimeStage).toContain("LABEL");
  });
  it("falls back to the runtime image's assemble-input-files label", () => {
    const plan = planS2IBuild(
      input({
        runtime: {
          ...runtime,
          config: {
            ...runtime.config,
            labels: { "io.openshift.s2i.assemble-input-files": "/out/app:bin;/out/data" },
          },
        },
      }),
    );
    expect(plan.runtime?.artifacts.map((a) => a.targetPath)).toEqual(["/app/bin/app", "/app/data"]);
    // No scripts-url label on the runtime image: no assemble-runtime is looked for there.
    expect(plan.runtime?.assembleRuntime).toBeNull();
  });
  it("refuses missing, relative or wildcard artifacts and a root runtime user", () => {
    expect(failure(() => planS2IBuild(input({ runtime }))).reason).toBe("RuntimeArtifactsInvalid");
    expect(
      failure(() =>
        planS2IBuild(
          input({ runtime, strategy: { runtimeArtifacts: [{ sourcePath: "out/*.jar" }] } }),
        ),
      ).reason,
    ).toBe("RuntimeArtifactsInvalid");
    expect(
      failure(() =>
        planS2IBuild(
          input({
            runtime,
            strategy: { runtimeArtifacts: [{ sourcePath: "/out", destinationDir: "../x" }] },
          }),
        ),
      ).reason,
    ).toBe("RuntimeArtifactsInvalid");
    expect(
      failure(() =>
        planS2IBuild(
          input({
            runtime: { ...runtime, config: { ...runtime.config, user: "" } },
            strategy: { runtimeArtifacts: [{ sourcePath: "/out" }] },
          }),
        ),
      ).reason,
    ).toBe("AssembleUserNotAllowed");
  });
});
