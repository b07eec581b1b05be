import { existsSync } from "node:fs";
import { KubeConfig } from "@kubernetes/client-node";

/*
 * A subpath of its own (`@kiln/runtime/kube`): only the services that talk to a cluster load
 * the Kubernetes client.
 */

/** Where the in-cluster service account token is mounted. */
const serviceAccountToken = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/**
 * The cluster to deploy to: the kubeconfig file at `kubeconfigPath` (KUBECONFIG; the first of a
 * `:`-separated list), else the pod's service account when running in a cluster, else null
 * (no cluster). `~/.kube/config` is deliberately not read: a deployer started by `kiln up` must
 * not start patching whatever cluster the user's shell points at, nor an api trust its users.
 */
export function loadKubeConfig(
  kubeconfigPath: string | undefined,
  env: Record<string, string | undefined> = process.env,
): { kubeConfig: KubeConfig; source: string } | null {
  const path = kubeconfigPath?.split(":").find((p) => p.length > 0);
  if (path) {
    const kc = new KubeConfig();
    kc.loadFromFile(path);
    return { kubeConfig: kc, source: `kubeconfig ${path}` };
  }
  if (env.KUBERNETES_SERVICE_HOST && existsSync(serviceAccountToken)) {
    const kc = new KubeConfig();
    kc.loadFromCluster();
    return { kubeConfig: kc, source: "in-cluster service account" };
  }
  return null;
}
