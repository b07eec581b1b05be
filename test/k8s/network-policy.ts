/**
 * Whether Kubernetes NetworkPolicies let one pod reach another pod or an address, the way a CNI
 * that enforces them decides (networking.k8s.io/v1 semantics): a pod selected by no policy of a
 * direction is open in it; once selected, a connection needs a rule that allows it, on the
 * sender's egress and on the receiver's ingress. Enough of the API for Kiln's own policies:
 * pod and namespace selectors (matchLabels, matchExpressions In/NotIn/Exists), ipBlocks with
 * `except`, ports by number or by the receiving container's port name.
 */
import { BlockList, isIPv4 } from "node:net";

type Labels = Record<string, string>;
type Selector = {
  matchLabels?: Labels;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
};
type Peer = {
  podSelector?: Selector;
  namespaceSelector?: Selector;
  ipBlock?: { cidr: string; except?: string[] };
};
type Rule = { from?: Peer[]; to?: Peer[]; ports?: { protocol?: string; port?: number | string }[] };
export type NetworkPolicy = {
  metadata: { namespace: string; name: string };
  spec: { podSelector: Selector; policyTypes?: string[]; ingress?: Rule[]; egress?: Rule[] };
};
export type PodEndpoint = { namespace: string; labels: Labels; ports?: Record<string, number> };
export type Endpoint = { pod: PodEndpoint } | { ip: string };

function matches(selector: Selector, labels: Labels): boolean {
  const byLabel = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpression = (selector.matchExpressions ?? []).every((e) => {
    const value = labels[e.key];
    switch (e.operator) {
      case "In":
        return value !== undefined && (e.values ?? []).includes(value);
      case "NotIn":
        return value === undefined || !(e.values ?? []).includes(value);
      case "Exists":
        return value !== undefined;
      case "DoesNotExist":
        return value === undefined;
      default:
        throw new Error(`unknown selector operator ${e.operator}`);
    }
  });
  return byLabel && byExpression;
}

function inCidr(ip: string, cidr: string): boolean {
  const [network = "", bits = "0"] = cidr.split("/");
  const list = new BlockList();
  const family = isIPv4(network) ? "ipv4" : "ipv6";
  if ((family === "ipv4") !== isIPv4(ip)) return false;
  list.addSubnet(network, Number(bits), family);
  return list.check(ip, family);
}

/** Whether `peer`, in a policy of `namespace`, names `other`. */
function peerMatches(
  peer: Peer,
  namespace: string,
  other: Endpoint,
  namespaceLabels: (ns: string) => Labels,
): boolean {
  if (peer.ipBlock) {
    if (!("ip" in other)) return false;
    return (
      inCidr(other.ip, peer.ipBlock.cidr) &&
      !(peer.ipBlock.except ?? []).some((c) => inCidr(other.ip, c))
    );
  }
  if (!("pod" in other)) return false;
  const nsOk = peer.namespaceSelector
    ? matches(peer.namespaceSelector, namespaceLabels(other.pod.namespace))
    : other.pod.namespace === namespace;
  const podOk = peer.podSelector ? matches(peer.podSelector, other.pod.labels) : true;
  return nsOk && podOk;
}

function portMatches(rule: Rule, port: number, receiver: Endpoint): boolean {
  if (!rule.ports || rule.ports.length === 0) return true;
  return rule.ports.some((p) => {
    if (p.port === undefined) return true;
    if (typeof p.port === "number") return p.port === port;
    return "pod" in receiver && receiver.pod.ports?.[p.port] === port;
  });
}

function allowedBy(
  policies: NetworkPolicy[],
  subject: PodEndpoint,
  direction: "Ingress" | "Egress",
  peer: Endpoint,
  port: number,
  receiver: Endpoint,
  namespaceLabels: (ns: string) => Labels,
): boolean {
  const selecting = policies.filter(
    (p) =>
      p.metadata.namespace === subject.namespace &&
      matches(p.spec.podSelector, subject.labels) &&
      (p.spec.policyTypes ?? ["Ingress"]).includes(direction),
  );
  if (selecting.length === 0) return true;
  return selecting.some((p) =>
    (direction === "Ingress" ? (p.spec.ingress ?? []) : (p.spec.egress ?? [])).some((rule) => {
      const peers = direction === "Ingress" ? rule.from : rule.to;
      const peerOk =
        !peers ||
        peers.length === 0 ||
        peers.some((x) => peerMatches(x, p.metadata.namespace, peer, namespaceLabels));
      return peerOk && portMatches(rule, port, receiver);
    }),
  );
}

/** Whether `from` (a pod) may open a TCP connection to `to` (a pod or an address) on `port`. */
export function canConnect(
  policies: NetworkPolicy[],
  from: PodEndpoint,
  to: Endpoint,
  port: number,
  namespaceLabels: (ns: string) => Labels,
): boolean {
  const egress = allowedBy(policies, from, "Egress", to, port, to, namespaceLabels);
  const ingress =
    "pod" in to
      ? allowedBy(policies, to.pod, "Ingress", { pod: from }, port, to, namespaceLabels)
      : true;
  return egress && ingress;
}
