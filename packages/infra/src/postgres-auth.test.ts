import { describe, expect, it } from "vitest";
import { hbaConf, hbaTrustsAnyone, scramVerifier } from "./postgres-auth.js";

describe("hbaTrustsAnyone", () => {
  it("finds the trust lines `initdb --auth=trust` wrote for the previous Kiln", () => {
    const previous = [
      "# TYPE  DATABASE        USER            ADDRESS                 METHOD",
      "local   all             all                                     trust",
      "host    all             all             127.0.0.1/32            trust",
      "host    replication     all             ::1/128                 trust",
    ].join("\n");
    expect(hbaTrustsAnyone(previous)).toBe(true);
  });

  it("passes Kiln's own file, whose comments mention no method but scram", () => {
    expect(hbaTrustsAnyone(hbaConf)).toBe(false);
    expect(hbaTrustsAnyone("# trust nobody\nlocal all all scram-sha-256\n")).toBe(false);
  });
});

describe("scramVerifier", () => {
  it("has PostgreSQL's SCRAM-SHA-256 shape and depends on the salt, not only the password", () => {
    const salt = Buffer.alloc(16, 7);
    const verifier = scramVerifier("pencil", salt);
    expect(verifier).toMatch(
      /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$/,
    );
    expect(scramVerifier("pencil", salt)).toBe(verifier);
    expect(scramVerifier("pencil")).not.toBe(verifier);
    expect(verifier).not.toContain("pencil");
  });
});
