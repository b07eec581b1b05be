import { describe, expect, it } from "vitest";
import { imageSourceDockerfile } from "./image-sources.js";

describe("imageSourceDockerfile", () => {
  it("lays the paths out as the context will hold them: a path under its name, `dir/.` as contents", () => {
    const dockerfile = imageSourceDockerfile(
      "registry/app@sha256:abc",
      [
        { sourcePath: "/app/bin/hello", destinationDir: "bin" },
        { sourcePath: "/opt/site/.", destinationDir: "" },
        { sourcePath: "/etc/app config", destinationDir: "conf/x" },
      ],
      "images[0].paths",
    );
    expect(dockerfile.split("\n")).toEqual([
      "FROM registry/app@sha256:abc AS source",
      "FROM scratch",
      'COPY --from=source ["/app/bin/hello","/bin/hello"]',
      'COPY --from=source ["/opt/site","/"]',
      'COPY --from=source ["/etc/app config","/conf/x/app config"]',
      "",
    ]);
  });

  it("refuses `..` in either path", () => {
    expect(() =>
      imageSourceDockerfile("i", [{ sourcePath: "/a/../../etc", destinationDir: "." }], "p"),
    ).toThrow("sourcePath /a/../../etc points outside");
    expect(() =>
      imageSourceDockerfile("i", [{ sourcePath: "/a", destinationDir: "../up" }], "p"),
    ).toThrow("destinationDir ../up points outside");
  });
});
