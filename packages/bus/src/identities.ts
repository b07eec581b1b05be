import { createUser, fromSeed } from "nkeys.js";
import { busRoleNames, natsPermissions, type BusIdentity, type NatsPermissions } from "./roles.js";

/** One NKey seed per identity (every service's role and `admin`): what each connects with. */
export type BusCredentials = Record<BusIdentity, string>;

export const busIdentities: readonly BusIdentity[] = [...busRoleNames, "admin"];

/** Fresh NKey user seeds for every identity. The server is given only their public keys. */
export function createBusCredentials(): BusCredentials {
  return Object.fromEntries(
    busIdentities.map((identity) => [identity, new TextDecoder().decode(createUser().getSeed())]),
  ) as BusCredentials;
}

/** The public key (`U…`) of an NKey user seed (`SU…`); throws on anything else. */
export function nkeyPublicKey(seed: string): string {
  return fromSeed(new TextEncoder().encode(seed)).getPublicKey();
}

/** A nats-server `authorization.users` entry. */
export type NatsUser = { nkey: string; permissions: NatsPermissions };

/**
 * The users of a server that carries the bus of `prefix` (`*`: any prefix, for a test server
 * shared by many private buses): each identity by its public key, with its role's permissions.
 */
export function busNatsUsers(credentials: BusCredentials, prefix: string): NatsUser[] {
  return busIdentities.map((identity) => ({
    nkey: nkeyPublicKey(credentials[identity]),
    permissions: natsPermissions(identity, prefix),
  }));
}
