import { describe, expect, it } from "vitest";
import {
  classifyAnswer,
  HostAnswer,
  hostState,
  statusRequest,
  type CommitStatus,
} from "./hosts.js";

const status = (
  provider: CommitStatus["target"]["provider"],
  repository = "acme/app",
): CommitStatus => ({
  target: { provider, apiUrl: "https://host.test/api", repository },
  commit: "0123456789abcdef0123456789abcdef01234567",
  phase: "Complete",
  context: "kiln/team/app",
  targetUrl: "https://kiln.test/console/ns/team/builds/app-3",
  description: "app-3 completed",
});
const sha = "0123456789abcdef0123456789abcdef01234567";

describe("statusRequest: each host's documented endpoint, auth header and body", () => {
  it("GitHub", () => {
    const r = statusRequest(status("github"), { token: "t0ken" });
    expect(r.url).toBe(`https://host.test/api/repos/acme/app/statuses/${sha}`);
    expect(r.headers).toMatchObject({
      Authorization: "Bearer t0ken",
      Accept: "application/vnd.github+json",
    });
    expect(JSON.parse(r.body)).toEqual({
      state: "success",
      target_url: "https://kiln.test/console/ns/team/builds/app-3",
      description: "app-3 completed",
      context: "kiln/team/app",
    });
  });

  it("GitLab: the project's path URL-encoded, PRIVATE-TOKEN, name", () => {
    const r = statusRequest(status("gitlab", "group/sub/app"), { token: "t0ken" });
    expect(r.url).toBe(`https://host.test/api/projects/group%2Fsub%2Fapp/statuses/${sha}`);
    expect(r.headers["PRIVATE-TOKEN"]).toBe("t0ken");
    expect(JSON.parse(r.body)).toMatchObject({ state: "success", name: "kiln/team/app" });
  });

  it("Gitea: Authorization: token", () => {
    const r = statusRequest(status("gitea"), { token: "t0ken" });
    expect(r.url).toBe(`https://host.test/api/repos/acme/app/statuses/${sha}`);
    expect(r.headers.Authorization).toBe("token t0ken");
  });

  it("Bitbucket Cloud: key and url, Bearer or Basic", () => {
    const r = statusRequest(status("bitbucket"), { token: "t0ken" });
    expect(r.url).toBe(`https://host.test/api/repositories/acme/app/commit/${sha}/statuses/build`);
    expect(r.headers.Authorization).toBe("Bearer t0ken");
    expect(JSON.parse(r.body)).toEqual({
      key: "kiln/team/app",
      state: "SUCCESSFUL",
      name: "kiln/team/app",
      url: "https://kiln.test/console/ns/team/builds/app-3",
      description: "app-3 completed",
    });
    const basic = statusRequest(status("bitbucket"), { token: "app-pass", username: "dev" });
    expect(basic.headers.Authorization).toBe(`Basic ${btoa("dev:app-pass")}`);
  });

  it("cuts a description to GitHub's 140 characters", () => {
    const r = statusRequest({ ...status("github"), description: "x".repeat(300) }, { token: "t" });
    expect((JSON.parse(r.body) as { description: string }).description).toHaveLength(140);
  });
});

describe("hostState", () => {
  it.each([
    ["Running", "pending", "running", "pending", "INPROGRESS"],
    ["Complete", "success", "success", "success", "SUCCESSFUL"],
    ["Failed", "failure", "failed", "failure", "FAILED"],
    ["Error", "error", "failed", "error", "FAILED"],
    ["Cancelled", "failure", "canceled", "failure", "STOPPED"],
  ] as const)("%s → github %s, gitlab %s, gitea %s, bitbucket %s", (phase, gh, gl, gt, bb) => {
    expect([
      hostState("github", phase),
      hostState("gitlab", phase),
      hostState("gitea", phase),
      hostState("bitbucket", phase),
    ]).toEqual([gh, gl, gt, bb]);
  });
});

describe("classifyAnswer", () => {
  it("retries what may pass later, and only that", () => {
    expect(classifyAnswer("github", 201, "")).toBe(HostAnswer.Taken);
    expect(classifyAnswer("bitbucket", 200, "")).toBe(HostAnswer.Taken);
    expect(classifyAnswer("github", 502, "")).toBe(HostAnswer.Retry);
    expect(classifyAnswer("gitea", 429, "")).toBe(HostAnswer.Retry);
    expect(classifyAnswer("github", 401, "Bad credentials")).toBe(HostAnswer.Refused);
    expect(
      classifyAnswer(
        "gitlab",
        400,
        '{"message":"Cannot transition status via :run from :running"}',
      ),
    ).toBe(HostAnswer.AlreadyThere);
    expect(classifyAnswer("gitlab", 400, '{"message":"state is missing"}')).toBe(
      HostAnswer.Refused,
    );
  });
});
