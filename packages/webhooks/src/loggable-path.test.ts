import { expect, test } from "vitest";
import { loggablePath } from "./webhook-receiver.js";

test("the secret of an OpenShift-style webhook URL and the query never reach a log line", () => {
  expect(
    loggablePath(
      "/apis/build.openshift.io/v1/namespaces/ns/buildconfigs/bc/webhooks/s3cr3t/github?x=1",
    ),
  ).toBe("/apis/build.openshift.io/v1/namespaces/ns/buildconfigs/bc/webhooks/[redacted]/github");
  expect(
    loggablePath("/apis/build.openshift.io/v1/namespaces/ns/buildconfigs/bc/webhooks/s3cr3t"),
  ).toBe("/apis/build.openshift.io/v1/namespaces/ns/buildconfigs/bc/webhooks/[redacted]");
  expect(loggablePath("/hooks/ns/bc/github")).toBe("/hooks/ns/bc/github");
});
