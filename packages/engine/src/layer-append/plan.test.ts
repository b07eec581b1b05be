import { describe, expect, it } from "vitest";
import { planDockerBuild, type PathChoice } from "./plan.js";
import { expandWord, resolveInstructions } from "./resolve.js";

const plan = (dockerfile: string, extra: { postCommit?: boolean; ignoreFile?: boolean } = {}) =>
  planDockerBuild({
    dockerfile,
    postCommit: extra.postCommit ?? false,
    ignoreFile: extra.ignoreFile ?? false,
  });
const reason = (choice: PathChoice) => (choice.path === "buildah" ? choice.reason : null);

describe("planDockerBuild", () => {
  it("takes FROM + COPY/ADD of context files + metadata as a layer-append build", () => {
    const choice = plan(
      'FROM base:1\nARG V=1\nENV A=1 B="two words"\nCOPY --chown=1001:0 --chmod=640 app.bin \\\n  /app/\nLABEL a=b\nWORKDIR /w\nUSER 1001\nEXPOSE 8080 53/udp\nCMD ["/app/app.bin", "x"]\nENTRYPOINT sh -c x\nSTOPSIGNAL TERM\n',
    );
    expect(choice.path).toBe("layer-append");
    if (choice.path !== "layer-append") return;
    expect(choice.base).toBe("base:1");
    expect(choice.instructions.map((i) => i.kind)).toEqual([
      "arg",
      "env",
      "copy",
      "label",
      "workdir",
      "user",
      "expose",
      "cmd",
      "entrypoint",
      "stopsignal",
    ]);
    expect(choice.instructions[2]).toEqual({
      kind: "copy",
      keyword: "COPY",
      sources: ["app.bin"],
      destination: "/app/",
      owner: { uid: 1001, gid: 0 },
      mode: 0o640,
    });
  });

  it.each([
    ["FROM base\nRUN true\n", "RUN needs a container"],
    ["FROM a AS x\nFROM b\nCOPY --from=x / /\n", "the Dockerfile has 2 FROMs (multi-stage)"],
    ["FROM base\nADD https://example.com/x /x\n", "ADD of a URL"],
    ["FROM base\nCOPY --from=other /x /x\n", "COPY --from"],
    [
      "FROM base\nCOPY --chown=app:app x /x\n",
      "COPY --chown=app:app names a user (only numeric ids are read without the base's /etc/passwd)",
    ],
    ["FROM base\nCOPY *.txt /x/\n", "COPY of a wildcard"],
    ["FROM base\nVOLUME /data\n", "VOLUME is not one the fast path writes"],
    ["FROM $BASE\nCOPY x /x\n", "the FROM image uses a build arg"],
    ["FROM scratch\nCOPY x /x\n", "FROM scratch"],
    [
      "# syntax=docker/dockerfile:1\nFROM base\nCOPY x /x\n",
      "the Dockerfile names a syntax frontend",
    ],
    ["FROM base\nCOPY <<EOF /x\nhi\nEOF\n", "COPY of a heredoc"],
  ])("sends %j to buildah: %s", (dockerfile, why) => {
    expect(reason(plan(dockerfile))).toBe(why);
  });

  it("sends a build with a post-commit hook or a .dockerignore to buildah", () => {
    expect(reason(plan("FROM base\nCOPY x /x\n", { postCommit: true }))).toBe(
      "the BuildConfig has a post-commit hook",
    );
    expect(reason(plan("FROM base\nCOPY x /x\n", { ignoreFile: true }))).toBe(
      "the context has a .dockerignore",
    );
  });
});

describe("resolveInstructions", () => {
  const resolve = (dockerfile: string, base = {}, extra = {}) => {
    const choice = plan(dockerfile);
    if (choice.path !== "layer-append") throw new Error(choice.reason);
    return resolveInstructions({
      instructions: choice.instructions,
      baseConfig: { Env: ["PATH=/bin"], Cmd: ["sh"], WorkingDir: "/", ...base },
      buildArgs: [],
      env: [],
      labels: [],
      ...extra,
    });
  };

  it("applies metadata as buildah does: ARG and ENV expansion, --env last in place, --labels as LABEL steps", () => {
    const r = resolve(
      "FROM b\nARG V=1.0\nENV C=${V}x PATH=/app:$PATH\nENV A=1\nWORKDIR app\nCOPY x y ./\nEXPOSE 8080\nUSER 1001\nLABEL l=$A\n",
      {},
      {
        env: [
          { name: "A", value: "9" },
          { name: "N", value: "1" },
        ],
        labels: [["z", "1"]],
      },
    );
    expect(r.config.Env).toEqual(["C=1.0x", "PATH=/app:/bin", "A=9", "N=1"]);
    expect(r.config.WorkingDir).toBe("/app");
    expect(r.config.ExposedPorts).toEqual({ "8080/tcp": {} });
    expect(r.config.User).toBe("1001");
    expect(r.config.Labels).toEqual({ l: "1", z: "1" });
    expect(r.copies).toEqual([
      {
        keyword: "COPY",
        sources: ["x", "y"],
        destination: "/app",
        writtenDestination: "./",
        intoDirectory: true,
        owner: null,
        mode: null,
      },
    ]);
    expect(r.workdirs).toEqual(["/app"]);
    expect(r.history).toEqual([
      { createdBy: "/bin/sh -c #(nop) ARG V" },
      { createdBy: "/bin/sh -c #(nop) ENV C=${V}x PATH=/app:$PATH" },
      { createdBy: "/bin/sh -c #(nop) ENV A=1" },
      { createdBy: "/bin/sh -c #(nop) WORKDIR app" },
      { copy: 0 },
      { createdBy: "/bin/sh -c #(nop) EXPOSE 8080" },
      { createdBy: "/bin/sh -c #(nop) USER 1001" },
      { createdBy: "/bin/sh -c #(nop) LABEL l=$A" },
      { createdBy: '/bin/sh -c #(nop) LABEL "z"="1"' },
    ]);
  });

  it("drops an inherited CMD when ENTRYPOINT is set, keeps one set before it, and runs shell forms with /bin/sh -c", () => {
    expect(resolve('FROM b\nENTRYPOINT ["/e"]\n').config.Cmd).toBeNull();
    const both = resolve('FROM b\nCMD run it\nENTRYPOINT ["/e", "a b"]\n').config;
    expect(both.Cmd).toEqual(["/bin/sh", "-c", "run it"]);
    expect(both.Entrypoint).toEqual(["/e", "a b"]);
  });

  it("expands ${X:-default}, ${X:+alt} and leaves \\$ alone", () => {
    const vars: Record<string, string> = { A: "a" };
    const look = (n: string) => vars[n];
    expect(expandWord("${A:-x}-${B:-y}-${A:+z}-${B:+w}-\\$A-$B", look)).toBe("a-y-z--$A-");
  });
});
