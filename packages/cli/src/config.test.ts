import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { defaultApiUrl, formatEnvFile, loadCliConfig, parseEnvFile } from "./config.js";
import { ConfigError } from "./errors.js";

describe("parseEnvFile", () => {
  it("reads KEY=value lines, skipping comments and blank lines", () => {
    expect(
      parseEnvFile("# kiln\n\nKILN_API_URL=http://127.0.0.1:18080\nexport KILN_TOKEN=abc\n"),
    ).toEqual({
      KILN_API_URL: "http://127.0.0.1:18080",
      KILN_TOKEN: "abc",
    });
  });

  it("unquotes single and double quoted values like a shell", () => {
    expect(
      parseEnvFile(
        `A='it''s'\nB="say \\"hi\\" \\$HOME"\nC='with # hash'\nD=plain # comment\nE=a=b`,
      ),
    ).toEqual({
      A: "its",
      B: 'say "hi" $HOME',
      C: "with # hash",
      D: "plain",
      E: "a=b",
    });
  });

  it("reads back what formatEnvFile writes, however odd the values", () => {
    const values = {
      PLAIN: "postgres://kiln@127.0.0.1:15432/kiln",
      ODD: `a b "c" $d \\e 'f' \`g\``,
      EMPTY: "",
    };
    expect(parseEnvFile(formatEnvFile(values))).toEqual(values);
  });

  it("refuses an unquoted space, which a shell would run as a command", () => {
    expect(() => parseEnvFile("A=one two\n", "env")).toThrow(/env:1: unquoted space/);
  });

  it("names the file and line of a malformed line", () => {
    expect(() => parseEnvFile("A=1\nthis is not an assignment\n", "/x/.kiln/env")).toThrow(
      /^\/x\/\.kiln\/env:2: expected KEY=value/,
    );
    expect(() => parseEnvFile("A='open\n", "env")).toThrow(ConfigError);
  });
});

describe("loadCliConfig", () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "kiln-cli-config-"));
  });
  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  const writeEnv = (dir: string, text: string) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "env"), text);
  };

  it("uses defaults when nothing is configured", () => {
    expect(loadCliConfig({ env: {}, cwd: root })).toMatchObject({
      apiUrl: defaultApiUrl,
      token: undefined,
      namespace: "default",
      files: [],
    });
  });

  it("finds .kiln/env in the nearest parent directory", () => {
    writeEnv(join(root, ".kiln"), "KILN_API_URL=http://api.test:1234/\nKILN_TOKEN=t0\n");
    const nested = join(root, "a", "b");
    mkdirSync(nested, { recursive: true });
    const config = loadCliConfig({ env: {}, cwd: nested });
    expect(config.apiUrl).toBe("http://api.test:1234");
    expect(config.token).toBe("t0");
    expect(config.files).toEqual([join(root, ".kiln", "env")]);
  });

  it("lets KILN_STATE_DIR/env override .kiln/env and real variables override both", () => {
    writeEnv(
      join(root, ".kiln"),
      "KILN_API_URL=http://one:1\nKILN_TOKEN=one\nKILN_NAMESPACE=one\n",
    );
    writeEnv(join(root, "state"), "KILN_API_URL=http://two:2\nKILN_TOKEN=two\n");
    const config = loadCliConfig({
      env: { KILN_STATE_DIR: join(root, "state"), KILN_TOKEN: "three" },
      cwd: root,
    });
    expect(config).toMatchObject({ apiUrl: "http://two:2", token: "three", namespace: "one" });
  });

  it("rejects a malformed namespace or URL with the variable name", () => {
    expect(() => loadCliConfig({ env: { KILN_NAMESPACE: "Not_Valid" }, cwd: root })).toThrow(
      /KILN_NAMESPACE/,
    );
    expect(() => loadCliConfig({ env: { KILN_API_URL: "ftp://x" }, cwd: root })).toThrow(
      /KILN_API_URL/,
    );
  });
});
