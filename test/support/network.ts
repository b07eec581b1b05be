import { networkInterfaces } from "node:os";

/**
 * An address of this host that is not loopback: "the internet" as a build step sees it. Build
 * steps reach the network out (slirp4netns), never this host's loopback, so a server a build
 * must reach listens here.
 */
export function externalAddress(): string {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === "IPv4" && !a.internal)?.address;
  if (!address)
    throw new Error("this host has no non-loopback IPv4 address for build steps to reach");
  return address;
}
