import { describe, expect, it } from "vitest";
import { mergeEnv, parseS2IEnvironment } from "./environment.js";

describe("parseS2IEnvironment", () => {
  it("takes KEY=VALUE lines literally, split at the first =, trimmed", () => {
    const text =
      '# comment\nGREETING=hello world\n  SPACED = yes \nQUOTED="kept"\nEXPR=$HOME/x=y\nnot a pair\n\n';
    expect(parseS2IEnvironment(text)).toEqual([
      { name: "GREETING", value: "hello world" },
      { name: "SPACED", value: "yes" },
      { name: "QUOTED", value: '"kept"' },
      { name: "EXPR", value: "$HOME/x=y" },
    ]);
  });
});

describe("mergeEnv", () => {
  it("lets later lists win and keeps first positions", () => {
    expect(
      mergeEnv(
        [
          { name: "A", value: "1" },
          { name: "B", value: "1" },
        ],
        [{ name: "A", value: "2" }],
      ),
    ).toEqual([
      { name: "A", value: "2" },
      { name: "B", value: "1" },
    ]);
  });
});
