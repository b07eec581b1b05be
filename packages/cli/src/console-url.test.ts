import { describe, expect, it } from "vitest";
import { consoleUrl, inDesktopSession } from "./console-url.js";

describe("consoleUrl", () => {
  it("is the api's /console/ with the namespace's BuildConfigs in the fragment", () => {
    expect(consoleUrl("http://127.0.0.1:18080", "team-a")).toBe(
      "http://127.0.0.1:18080/console/#/ns/team-a/buildconfigs",
    );
    expect(consoleUrl("https://kiln.example.com/", "default")).toBe(
      "https://kiln.example.com/console/#/ns/default/buildconfigs",
    );
  });
});

describe("inDesktopSession", () => {
  it("needs an X or Wayland display", () => {
    expect(inDesktopSession({})).toBe(false);
    expect(inDesktopSession({ DISPLAY: "" })).toBe(false);
    expect(inDesktopSession({ DISPLAY: ":0" })).toBe(true);
    expect(inDesktopSession({ WAYLAND_DISPLAY: "wayland-0" })).toBe(true);
  });
});
