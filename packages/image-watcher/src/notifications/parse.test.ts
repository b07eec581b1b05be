import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { NotificationParseError } from "../errors.js";
import { eventsV1MediaType, eventsV2MediaType } from "./distribution.js";
import { parseNotification } from "./parse.js";

const fixture = (name: string) =>
  readFileSync(new URL(`../fixtures/${name}`, import.meta.url), "utf8");

describe("parseNotification", () => {
  it("takes the tagged manifest push of a distribution v1 batch and ignores the blob push and the pull", () => {
    const parsed = parseNotification(
      "distribution",
      eventsV1MediaType,
      fixture("distribution-v1-push.json"),
    );
    expect(parsed.ignored).toBe(2);
    expect(parsed.hints).toEqual([
      {
        eventId: "6b4d7b9e-1d1c-4f0b-9d4a-8f2e6c1a3b5d",
        registry: "127.0.0.1:15000",
        repository: "default/hello",
        tag: "latest",
        digest: "sha256:6f6e4b5c3b2a19f7d8e6c5b4a3928170f6e5d4c3b2a19f8e7d6c5b4a39281706",
      },
    ]);
  });

  it("takes one index push per request in the v2 envelope", () => {
    const parsed = parseNotification(
      "distribution",
      `${eventsV2MediaType}; charset=utf-8`,
      fixture("distribution-v2-index-push.json"),
    );
    expect(parsed.hints).toEqual([
      expect.objectContaining({
        registry: "registry.example.com",
        repository: "team/api",
        tag: "v2.1.0",
      }),
    ]);
  });

  it("ignores a manifest pushed by digest only: it names no tag", () => {
    const event = JSON.parse(fixture("distribution-v2-index-push.json")) as {
      target: Record<string, unknown>;
    };
    delete event.target.tag;
    expect(parseNotification("distribution", eventsV2MediaType, JSON.stringify(event))).toEqual({
      hints: [],
      ignored: 1,
    });
  });

  it("refuses an unknown content type and a body that is no envelope", () => {
    expect(() =>
      parseNotification("distribution", "text/plain", fixture("distribution-v1-push.json")),
    ).toThrow(NotificationParseError);
    expect(() => parseNotification("distribution", eventsV1MediaType, '{"hello":1}')).toThrow(
      NotificationParseError,
    );
    expect(() => parseNotification("distribution", eventsV1MediaType, "{not json")).toThrow(
      NotificationParseError,
    );
  });

  it("reads a Harbor push in the Default format, with the registry from resource_url", () => {
    const parsed = parseNotification(
      "harbor",
      "application/json",
      fixture("harbor-default-push.json"),
    );
    expect(parsed.hints).toEqual([
      expect.objectContaining({
        registry: "harbor.example.com",
        repository: "library/alpine",
        tag: "3.18",
        digest: expect.stringMatching(/^sha256:/),
      }),
    ]);
  });

  it("skips Harbor's untagged artifact (the digest in tag) and keeps the tagged one of a CloudEvent", () => {
    const parsed = parseNotification(
      "harbor",
      "application/cloudevents+json",
      fixture("harbor-cloudevents-untagged.json"),
    );
    expect(parsed.ignored).toBe(1);
    expect(parsed.hints).toEqual([
      expect.objectContaining({
        tag: "latest",
        eventId: expect.stringContaining("4b2f89a6-548d-4c12-9993-a1f5790b97d2"),
      }),
    ]);
  });

  it("ignores other Harbor events", () => {
    const pull = JSON.parse(fixture("harbor-default-push.json")) as Record<string, unknown>;
    pull.type = "PULL_ARTIFACT";
    expect(parseNotification("harbor", "application/json", JSON.stringify(pull))).toEqual({
      hints: [],
      ignored: 1,
    });
  });

  it("reads a Docker Hub push as docker.io", () => {
    const parsed = parseNotification(
      "dockerhub",
      "application/json",
      fixture("dockerhub-push.json"),
    );
    expect(parsed.hints).toEqual([
      {
        eventId: "svendowideit/testhook:latest@1417566161",
        registry: "docker.io",
        repository: "svendowideit/testhook",
        tag: "latest",
      },
    ]);
  });

  it("reads every updated tag of a Quay push", () => {
    const parsed = parseNotification("quay", "application/json", fixture("quay-push.json"));
    expect(parsed.hints.map((h) => `${h.registry}/${h.repository}:${h.tag}`)).toEqual([
      "quay.io/dgangaia/test:latest",
      "quay.io/dgangaia/test:v1",
    ]);
  });
});
