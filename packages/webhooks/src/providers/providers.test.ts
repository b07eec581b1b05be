import { describe, expect, it } from "vitest";
import { WebhookParseError } from "../errors.js";
import { recorded } from "../fixtures/recorded.js";
import { parseBitbucket } from "./bitbucket.js";
import { parseGeneric } from "./generic.js";
import { parseGitea } from "./gitea.js";
import { parseGitHub } from "./github.js";
import { parseGitLab } from "./gitlab.js";

const body = (value: unknown) => Buffer.from(JSON.stringify(value));

describe("GitHub", () => {
  it("reads a push: ref, pushed commit, default branch, delivery id", () => {
    const d = recorded("github push");
    expect(parseGitHub(d.headers, d.body)).toEqual({
      provider: "github",
      deliveryId: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
      event: {
        kind: "push",
        changes: [
          {
            ref: "refs/heads/main",
            commit: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
            deleted: false,
            message: "Update README.md",
            author: "baxterthehacker",
          },
        ],
        defaultBranch: "main",
      },
    });
  });
  it("reads a ping as a ping", () => {
    const d = recorded("github ping");
    expect(parseGitHub(d.headers, d.body).event).toEqual({ kind: "ping" });
  });
  it("reads a branch deletion as deleted, without a commit", () => {
    const d = recorded("github branch deletion");
    expect(parseGitHub(d.headers, d.body).event).toMatchObject({
      kind: "push",
      changes: [{ ref: "refs/heads/feature-x", deleted: true, commit: undefined }],
    });
  });
  it("reads the form encoding GitHub offers", () => {
    const d = recorded("github push");
    const form = Buffer.from(new URLSearchParams({ payload: d.body.toString() }).toString());
    const parsed = parseGitHub(
      { ...d.headers, "content-type": "application/x-www-form-urlencoded" },
      form,
    );
    expect(parsed.event).toMatchObject({
      kind: "push",
      changes: [{ commit: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c" }],
    });
  });
  it("ignores other events but keeps their name", () => {
    const d = recorded("github push");
    expect(parseGitHub({ ...d.headers, "x-github-event": "pull_request" }, d.body).event).toEqual({
      kind: "ignored",
      event: "pull_request",
    });
  });
  it("refuses a missing event header, a bad delivery id, bad JSON and a bad commit id with a typed error", () => {
    const d = recorded("github push");
    const { "x-github-event": _, ...noEvent } = d.headers;
    expect(() => parseGitHub(noEvent, d.body)).toThrow(/x-github-event header is required/);
    expect(() => parseGitHub({ ...d.headers, "x-github-delivery": "a.b>c" }, d.body)).toThrow(
      WebhookParseError,
    );
    expect(() => parseGitHub(d.headers, Buffer.from("{not json"))).toThrow(/not valid JSON/);
    const bad = JSON.parse(d.body.toString());
    bad.head_commit.id = "not-a-sha";
    expect(() => parseGitHub(d.headers, body(bad))).toThrow(/head_commit\.id/);
  });
});

describe("GitLab", () => {
  it("reads a Push Hook with checkout_sha as the commit", () => {
    const d = recorded("gitlab push");
    expect(parseGitLab(d.headers, d.body)).toMatchObject({
      provider: "gitlab",
      deliveryId: "13792a34-cac6-4fda-95a8-c58e00a3954e",
      event: {
        kind: "push",
        defaultBranch: "master",
        changes: [
          {
            ref: "refs/heads/master",
            commit: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
            message: "fixed readme",
          },
        ],
      },
    });
  });
  it("reads a Tag Push Hook and prefers Idempotency-Key, which stays the same across GitLab's retries", () => {
    const d = recorded("gitlab tag push");
    expect(parseGitLab(d.headers, d.body)).toMatchObject({
      deliveryId: "f6b0a1c2-3d4e-4f50-8a6b-7c8d9e0f1a2b",
      event: {
        kind: "push",
        changes: [{ ref: "refs/tags/v1.0.0", commit: "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7" }],
      },
    });
  });
  it("reads a branch deletion (after all zeros, no checkout_sha)", () => {
    const d = recorded("gitlab push");
    const doc = { ...JSON.parse(d.body.toString()), after: "0".repeat(40), checkout_sha: null };
    expect(parseGitLab(d.headers, body(doc)).event).toMatchObject({ changes: [{ deleted: true }] });
  });
  it("ignores merge request hooks", () => {
    const d = recorded("gitlab push");
    expect(
      parseGitLab({ ...d.headers, "x-gitlab-event": "Merge Request Hook" }, d.body).event.kind,
    ).toBe("ignored");
  });
});

describe("Gitea, Forgejo and Gogs", () => {
  it("reads a Gitea push", () => {
    const d = recorded("gitea push");
    expect(parseGitea(d.headers, d.body)).toMatchObject({
      provider: "gitea",
      deliveryId: "f6266f16-1bf3-46a5-9ea4-602e06ead473",
      event: {
        kind: "push",
        defaultBranch: "main",
        changes: [
          {
            ref: "refs/heads/main",
            commit: "bffeb74224043ba2feb48d137756c8a9331c449a",
            message: "Webhooks Yay!",
          },
        ],
      },
    });
  });
  it("tells Gogs by its headers", () => {
    const d = recorded("gogs push");
    expect(parseGitea(d.headers, d.body)).toMatchObject({
      provider: "gogs",
      deliveryId: "2c0d6c39-8b4a-4b8e-b1d4-6f0b3b2b3c21",
      event: {
        changes: [{ ref: "refs/heads/master", commit: "ef98fe8a7af8e8ea2c0cd0ba4e5ccfd07e0a4a37" }],
      },
    });
  });
  it("needs an event header", () => {
    const d = recorded("gitea push");
    expect(() =>
      parseGitea({ "content-type": "application/json", "x-gitea-delivery": "x1" }, d.body),
    ).toThrow(/x-gitea-event .* header is required/);
  });
});

describe("Bitbucket", () => {
  it("reads a Cloud repo:push", () => {
    const d = recorded("bitbucket cloud repo:push");
    expect(parseBitbucket(d.headers, d.body)).toMatchObject({
      provider: "bitbucket",
      deliveryId: "8e3f1f5a-2b4c-4d6e-8f0a-1b2c3d4e5f60",
      event: {
        kind: "push",
        defaultBranch: "main",
        changes: [
          {
            ref: "refs/heads/main",
            commit: "709d658dc5b6d6afcd46049c2f332ee3f515a67d",
            deleted: false,
          },
        ],
      },
    });
  });
  it("reads a Cloud branch deletion and a tag", () => {
    const d = recorded("bitbucket cloud repo:push");
    const doc = JSON.parse(d.body.toString());
    const change = doc.push.changes[0];
    doc.push.changes = [
      { ...change, new: null, closed: true },
      { old: null, new: { ...change.new, type: "tag", name: "v2" } },
    ];
    expect(parseBitbucket(d.headers, body(doc)).event).toMatchObject({
      changes: [
        { ref: "refs/heads/main", deleted: true },
        { ref: "refs/tags/v2", deleted: false, commit: "709d658dc5b6d6afcd46049c2f332ee3f515a67d" },
      ],
    });
  });
  it("reads a Server repo:refs_changed, and its diagnostics:ping", () => {
    const d = recorded("bitbucket server repo:refs_changed");
    expect(parseBitbucket(d.headers, d.body)).toMatchObject({
      provider: "bitbucket-server",
      deliveryId: "fbd8c1b6-3a2e-4b1d-9c7f-5e6a4b3c2d10",
      event: {
        changes: [{ ref: "refs/heads/master", commit: "178864a7d521b6f5e720b386b2c2b0ef8563e0dc" }],
      },
    });
    expect(
      parseBitbucket({ ...d.headers, "x-event-key": "diagnostics:ping" }, Buffer.from("{}")).event,
    ).toEqual({ kind: "ping" });
  });
});

describe("generic", () => {
  it("reads OpenShift's generic payload; a short ref is a branch", () => {
    const d = recorded("generic");
    expect(parseGeneric(d.headers, d.body)).toMatchObject({
      provider: "generic",
      deliveryId: "4a6f0c2e-9b1d-4e3f-8a5c-7d2b1e0f9c81",
      event: {
        kind: "push",
        changes: [
          {
            ref: "refs/heads/master",
            commit: "ebf0a5b5f2bb0cb47a3a60c4fdcebee2d7a98ade",
            message: "Add a simple ruby app",
          },
        ],
        env: [{ name: "EXAMPLE_VARIABLE", value: "example_value" }],
      },
    });
  });
  it("accepts an empty body (build the BuildConfig's ref) and no delivery id", () => {
    expect(parseGeneric({}, new Uint8Array())).toEqual({
      provider: "generic",
      deliveryId: null,
      event: {
        kind: "push",
        changes: [
          { ref: "", commit: undefined, deleted: false, message: undefined, author: undefined },
        ],
        env: undefined,
      },
    });
  });
  it("refuses a bad env name", () => {
    expect(() =>
      parseGeneric(
        { "content-type": "application/json" },
        body({ env: [{ name: "1BAD", value: "x" }] }),
      ),
    ).toThrow(WebhookParseError);
  });
});
