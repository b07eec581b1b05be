import type { V1Container, V1Job } from "@kubernetes/client-node";
import type { BuildSpec } from "@kiln/domain";
import { describe, expect, it } from "vitest";
import {
  authSecretManifests,
  buildJobManifest,
  dockerConfigJsonKey,
  KubeLabel,
  PodPath,
  StepEnv,
  type JobManifestOptions,
  type ManifestBuild,
} from "./job-manifest.js";
import { dns1123LabelPattern, jobNameFor, labelValuePattern } from "./names.js";

const spec: BuildSpec = {
  buildConfig: "hello",
  number: 3,
  source: { git: { uri: "https://example.test/hello.git", ref: "main" } },
  strategy: { type: "Docker" },
  output: { image: "registry.example.test/default/hello:latest", imageLabels: [] },
  revision: { commit: "0123456789abcdef0123456789abcdef01234567" },
  env: [],
  triggeredBy: [{ type: "Manual", message: "by hand" }],
};
const build: ManifestBuild = {
  id: "5f0c6f5e-8a3b-4c59-9d7e-1c2b3a4d5e6f",
  namespace: "default",
  name: "hello-3",
  spec,
};
const options: JobManifestOptions = {
  namespace: "kiln-builds",
  image: "registry.example.test/kiln/kiln:1.0",
  stepCommand: ["kiln-build-step"],
  insecureRegistries: ["127.0.0.1:15000"],
  allowedUids: "1-4294967294",
  maxInputBytes: 1024,
  ttlSecondsAfterFinished: 600,
};
const jobName = jobNameFor(build, "abcde");
const noCredentials = { pull: false, push: false };

function containers(job: V1Job): V1Container[] {
  const pod = job.spec?.template.spec;
  return [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])];
}
const byName = (job: V1Job, name: string) => containers(job).find((c) => c.name === name);
const envOf = (c: V1Container | undefined) =>
  Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value]));

describe("buildJobManifest", () => {
  it("runs the fetch step as an init container and the build step after it, in the configured namespace and image", () => {
    const job = buildJobManifest(build, jobName, noCredentials, options);
    expect(job.metadata?.namespace).toBe("kiln-builds");
    expect(job.metadata?.name).toBe(jobName);
    expect(
      job.spec?.template.spec?.initContainers?.map((c) => [c.name, c.image, c.command]),
    ).toEqual([["fetch", options.image, ["kiln-build-step", "fetch"]]]);
    expect(job.spec?.template.spec?.containers.map((c) => [c.name, c.image, c.command])).toEqual([
      ["build", options.image, ["kiln-build-step", "build"]],
    ]);
    expect(job.spec?.template.spec?.restartPolicy).toBe("Never");
    // Both see the workspace; only the build container has buildah's store.
    expect(byName(job, "fetch")?.volumeMounts?.map((m) => m.mountPath)).toEqual([
      PodPath.workspace,
      PodPath.tmp,
    ]);
    expect(byName(job, "build")?.volumeMounts?.map((m) => m.mountPath)).toEqual([
      PodPath.workspace,
      PodPath.tmp,
      PodPath.storage,
    ]);
    for (const c of containers(job)) expect(c.terminationMessagePath).toBe("/dev/termination-log");
  });

  it("hands the build to both steps as JSON and the build's settings to the build step", () => {
    const job = buildJobManifest(build, jobName, noCredentials, options);
    const fetchEnv = envOf(byName(job, "fetch"));
    expect(JSON.parse(fetchEnv[StepEnv.Build] ?? "")).toEqual({
      id: build.id,
      namespace: "default",
      name: "hello-3",
      spec,
    });
    const buildEnv = envOf(byName(job, "build"));
    expect(buildEnv[StepEnv.Build]).toBe(fetchEnv[StepEnv.Build]);
    expect(buildEnv[StepEnv.InsecureRegistries]).toBe("127.0.0.1:15000");
    expect(buildEnv[StepEnv.AllowedUids]).toBe("1-4294967294");
    // The default: RUN steps share the build container's namespaces; the pod is the boundary.
    expect(buildEnv.KILN_BUILD_ISOLATION).toBe("chroot-unsafe");
    expect(buildEnv.KILN_BUILD_NETWORK).toBe("pod");
    // No NATS for a git build.
    expect(fetchEnv[StepEnv.NatsUrl]).toBeUndefined();
  });

  it("gives a binary build's init container the bus to read the upload from", () => {
    const binary: ManifestBuild = {
      ...build,
      spec: {
        ...spec,
        binaryInput: { object: "req-1", kind: "archive", size: 10, sha256: "a".repeat(64) },
      },
    };
    const job = buildJobManifest(binary, jobName, noCredentials, {
      ...options,
      binaryInput: { natsUrl: "nats://nats.kiln:4222", subjectPrefix: "kiln" },
    });
    const env = envOf(byName(job, "fetch"));
    expect(env[StepEnv.NatsUrl]).toBe("nats://nats.kiln:4222");
    expect(env[StepEnv.SubjectPrefix]).toBe("kiln");
    expect(envOf(byName(job, "build"))[StepEnv.NatsUrl]).toBeUndefined();
  });

  it("is unprivileged: no privileged container, no host namespaces, no hostPath, no Docker socket, no API token", () => {
    const job = buildJobManifest(build, jobName, { pull: true, push: true }, options);
    const pod = job.spec?.template.spec;
    expect(pod?.hostNetwork).toBe(false);
    expect(pod?.hostPID).toBe(false);
    expect(pod?.hostIPC).toBe(false);
    expect(pod?.automountServiceAccountToken).toBe(false);
    for (const volume of pod?.volumes ?? []) {
      expect(volume.hostPath).toBeUndefined();
      expect(
        Object.keys(volume)
          .filter((k) => k !== "name")
          .sort(),
      ).toSatisfy(
        (kinds: string[]) => kinds.length === 1 && ["emptyDir", "secret"].includes(kinds[0]!),
      );
    }
    const text = JSON.stringify(job);
    expect(text).not.toMatch(/docker\.sock|\/var\/run\/docker|containerd\.sock|crio\.sock/);
    expect(text).not.toContain('"privileged":true');
    for (const c of containers(job)) {
      expect(c.securityContext?.privileged).toBe(false);
      expect(c.securityContext?.capabilities?.drop).toEqual(["ALL"]);
      expect(c.securityContext?.runAsUser).toBeUndefined(); // from the pod: non-root
      expect(c.ports).toBeUndefined();
    }
    expect(pod?.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      fsGroup: 1000,
      seccompProfile: { type: "RuntimeDefault" },
    });
  });

  it("lets only the build container escalate, with no capability but SETUID and SETGID, for buildah's user namespace", () => {
    const job = buildJobManifest(build, jobName, noCredentials, options);
    expect(byName(job, "fetch")?.securityContext).toEqual({
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    expect(byName(job, "build")?.securityContext).toEqual({
      privileged: false,
      allowPrivilegeEscalation: true,
      capabilities: { drop: ["ALL"], add: ["SETUID", "SETGID"] },
      appArmorProfile: { type: "Unconfined" },
    });
    const annotations = job.spec?.template.metadata?.annotations ?? {};
    expect(annotations["container.apparmor.security.beta.kubernetes.io/build"]).toBe("unconfined");
    const confined = buildJobManifest(build, jobName, noCredentials, {
      ...options,
      buildAppArmorProfile: "RuntimeDefault",
    });
    expect(byName(confined, "build")?.securityContext?.appArmorProfile).toEqual({
      type: "RuntimeDefault",
    });
    expect(
      confined.spec?.template.metadata?.annotations?.[
        "container.apparmor.security.beta.kubernetes.io/build"
      ],
    ).toBe("runtime/default");
  });

  it("with oci isolation runs the build container as root of the pod's own user namespace, /proc unmasked for runc, nothing to escalate", () => {
    const job = buildJobManifest(build, jobName, noCredentials, { ...options, isolation: "oci" });
    const pod = job.spec?.template.spec;
    expect(pod?.hostUsers).toBe(false);
    expect(pod?.automountServiceAccountToken).toBe(false);
    expect(byName(job, "build")?.securityContext).toEqual({
      privileged: false,
      allowPrivilegeEscalation: false,
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      procMount: "Unmasked",
      seccompProfile: { type: "Unconfined" },
      appArmorProfile: { type: "Unconfined" },
    });
    // The fetch container stays the unprivileged user of the pod.
    expect(byName(job, "fetch")?.securityContext).toEqual({
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    const buildEnv = Object.fromEntries(
      (byName(job, "build")?.env ?? []).map((e) => [e.name, e.value]),
    );
    expect(buildEnv.KILN_BUILD_ISOLATION).toBe("oci");
    expect(
      buildJobManifest(build, jobName, noCredentials, options).spec?.template.spec?.hostUsers,
    ).toBeUndefined();
  });

  it("runs once, for at most completionDeadlineSeconds, and is removed a while after it finished", () => {
    const job = buildJobManifest(
      { ...build, spec: { ...spec, completionDeadlineSeconds: 900 } },
      jobName,
      noCredentials,
      options,
    );
    expect(job.spec?.backoffLimit).toBe(0);
    expect(job.spec?.activeDeadlineSeconds).toBe(900);
    expect(job.spec?.ttlSecondsAfterFinished).toBe(600);
    expect(
      buildJobManifest(build, jobName, noCredentials, options).spec?.activeDeadlineSeconds,
    ).toBeUndefined();
  });

  it("carries the BuildConfig's resources to both containers and its nodeSelector to the pod", () => {
    const resources = { requests: { cpu: "250m", memory: "512Mi" }, limits: { memory: "2Gi" } };
    const job = buildJobManifest(
      { ...build, spec: { ...spec, resources, nodeSelector: { "kubernetes.io/arch": "amd64" } } },
      jobName,
      noCredentials,
      options,
    );
    for (const c of containers(job)) expect(c.resources).toEqual(resources);
    expect(job.spec?.template.spec?.nodeSelector).toEqual({ "kubernetes.io/arch": "amd64" });
    const plain = buildJobManifest(build, jobName, noCredentials, options);
    for (const c of containers(plain)) expect(c.resources).toBeUndefined();
    expect(plain.spec?.template.spec?.nodeSelector).toBeUndefined();
  });

  it("runs the pod as the BuildConfig's service account, else the runner's, never mounting its token", () => {
    const withAccount = { ...options, serviceAccountName: "kiln-build" };
    const named = buildJobManifest(
      { ...build, spec: { ...spec, serviceAccount: "builder" } },
      jobName,
      noCredentials,
      withAccount,
    ).spec?.template.spec;
    expect(named?.serviceAccountName).toBe("builder");
    expect(named?.automountServiceAccountToken).toBe(false);
    const unnamed = buildJobManifest(build, jobName, noCredentials, withAccount).spec?.template
      .spec;
    expect(unnamed?.serviceAccountName).toBe("kiln-build");
    const neither = buildJobManifest(build, jobName, noCredentials, options).spec?.template.spec;
    expect(neither?.serviceAccountName).toBeUndefined();
  });

  it("labels the Job and its pod with the build and BuildConfig, and keeps the exact names in annotations", () => {
    const job = buildJobManifest(build, jobName, noCredentials, options);
    const labels = job.metadata?.labels ?? {};
    expect(labels[KubeLabel.Build]).toBe("hello-3");
    expect(labels[KubeLabel.BuildConfig]).toBe("hello");
    expect(labels[KubeLabel.Namespace]).toBe("default");
    expect(labels[KubeLabel.BuildId]).toBe(build.id);
    expect(labels[KubeLabel.Job]).toBe(jobName);
    expect(job.spec?.template.metadata?.labels).toEqual(labels);
    expect(job.metadata?.annotations?.["kiln.dev/build-name"]).toBe("hello-3");
  });

  it("keeps every name and label valid for Kubernetes when Kiln's names are long", () => {
    const longConfig = `a${"b".repeat(100)}.c${"d".repeat(100)}`;
    const long: ManifestBuild = {
      ...build,
      namespace: "n".repeat(63),
      name: `${longConfig}-12`,
      spec: { ...spec, buildConfig: longConfig },
    };
    const name = jobNameFor(long, "xyz12");
    expect(name).toMatch(dns1123LabelPattern);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name.endsWith("-xyz12")).toBe(true);
    const job = buildJobManifest(long, name, { pull: true, push: true }, options);
    for (const value of Object.values(job.metadata?.labels ?? {})) {
      expect(value.length).toBeLessThanOrEqual(63);
      expect(value).toMatch(labelValuePattern);
    }
    expect(job.metadata?.annotations?.["kiln.dev/buildconfig-name"]).toBe(longConfig);
    // Two long names that share their first 50 characters still get different Jobs.
    expect(jobNameFor({ ...long, name: `${longConfig}-13` }, "xyz12")).not.toBe(name);
    for (const secret of job.spec?.template.spec?.volumes?.flatMap((v) =>
      v.secret?.secretName ? [v.secret.secretName] : [],
    ) ?? []) {
      expect(secret.length).toBeLessThanOrEqual(253);
      expect(secret).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
    }
  });

  it("mounts the pull and push Secrets read-only into the build container only, and tells the step where they are", () => {
    const job = buildJobManifest(build, jobName, { pull: true, push: true }, options);
    const volumes = job.spec?.template.spec?.volumes ?? [];
    expect(
      volumes
        .filter((v) => v.secret)
        .map((v) => [v.name, v.secret?.secretName, v.secret?.defaultMode]),
    ).toEqual([
      ["pull-auth", `${jobName}-pull`, 0o440],
      ["push-auth", `${jobName}-push`, 0o440],
    ]);
    expect(byName(job, "fetch")?.volumeMounts?.some((m) => m.name.endsWith("-auth"))).toBe(false);
    expect(byName(job, "build")?.volumeMounts?.filter((m) => m.name.endsWith("-auth"))).toEqual([
      { name: "pull-auth", mountPath: PodPath.pullAuth, readOnly: true },
      { name: "push-auth", mountPath: PodPath.pushAuth, readOnly: true },
    ]);
    const env = envOf(byName(job, "build"));
    expect(env[StepEnv.PullAuthFile]).toBe(`${PodPath.pullAuth}/${dockerConfigJsonKey}`);
    expect(env[StepEnv.PushAuthFile]).toBe(`${PodPath.pushAuth}/${dockerConfigJsonKey}`);
    // Only what there is: a push-only build has no pull Secret.
    const pushOnly = buildJobManifest(build, jobName, { pull: false, push: true }, options);
    expect(
      pushOnly.spec?.template.spec?.volumes?.filter((v) => v.secret).map((v) => v.name),
    ).toEqual(["push-auth"]);
    expect(envOf(byName(pushOnly, "build"))[StepEnv.PullAuthFile]).toBeUndefined();
  });

  it("never puts credentials into the Job itself", () => {
    const job = buildJobManifest({ ...build }, jobName, { pull: true, push: true }, options);
    expect(JSON.stringify(job)).not.toContain("auths");
  });
});

describe("authSecretManifests", () => {
  const pull = JSON.stringify({ auths: { "docker.io": { auth: "dXNlcjpwdWxs" } } });
  const push = JSON.stringify({ auths: { "registry.example.test": { auth: "dXNlcjpwdXNo" } } });

  it("makes one dockerconfigjson Secret per direction, owned by the Job", () => {
    const secrets = authSecretManifests(
      build,
      { name: jobName, uid: "job-uid-1" },
      { pull, push },
      options,
    );
    expect(secrets.map((s) => [s.metadata?.name, s.type, s.metadata?.namespace])).toEqual([
      [`${jobName}-pull`, "kubernetes.io/dockerconfigjson", "kiln-builds"],
      [`${jobName}-push`, "kubernetes.io/dockerconfigjson", "kiln-builds"],
    ]);
    for (const s of secrets) {
      expect(s.metadata?.ownerReferences).toEqual([
        { apiVersion: "batch/v1", kind: "Job", name: jobName, uid: "job-uid-1", controller: true },
      ]);
      expect(s.immutable).toBe(true);
      expect(s.metadata?.labels?.[KubeLabel.BuildId]).toBe(build.id);
    }
    expect(Buffer.from(secrets[0]?.data?.[dockerConfigJsonKey] ?? "", "base64").toString()).toBe(
      pull,
    );
    expect(Buffer.from(secrets[1]?.data?.[dockerConfigJsonKey] ?? "", "base64").toString()).toBe(
      push,
    );
  });

  it("makes none without credentials", () => {
    expect(authSecretManifests(build, { name: jobName, uid: "u" }, undefined, options)).toEqual([]);
    expect(
      authSecretManifests(build, { name: jobName, uid: "u" }, { push }, options).map(
        (s) => s.metadata?.name,
      ),
    ).toEqual([`${jobName}-push`]);
  });

  it("gives a binary build's fetch container alone the build-pod seed and NATS's CA, in a Secret of the Job", () => {
    const binary: ManifestBuild = {
      ...build,
      spec: {
        ...spec,
        binaryInput: { object: "req-1", kind: "archive", size: 10, sha256: "0".repeat(64) },
      },
    };
    const withBus: JobManifestOptions = {
      ...options,
      binaryInput: {
        natsUrl: "tls://kiln-nats.kiln.svc:4222",
        subjectPrefix: "kiln",
        nkeySeed: "SUSEED",
        tlsCa: "-----BEGIN CERTIFICATE-----\n",
      },
    };
    const [bus] = authSecretManifests(binary, { name: jobName, uid: "u" }, undefined, withBus);
    expect(bus?.metadata?.name).toBe(`${jobName}-bus`);
    expect(Buffer.from(bus?.data?.["nkey-seed"] ?? "", "base64").toString()).toBe("SUSEED");
    expect(Buffer.from(bus?.data?.["ca.crt"] ?? "", "base64").toString()).toContain("CERTIFICATE");
    const job = buildJobManifest(binary, jobName, noCredentials, withBus);
    expect(envOf(byName(job, "fetch"))).toMatchObject({
      KILN_NATS_NKEY_SEED_FILE: "/var/run/kiln/bus/nkey-seed",
      KILN_NATS_TLS_CA_FILE: "/var/run/kiln/bus/ca.crt",
    });
    expect(byName(job, "build")?.volumeMounts?.map((m) => m.name)).not.toContain("bus-auth");
    // A git build's pod never gets on the bus.
    expect(authSecretManifests(build, { name: jobName, uid: "u" }, undefined, withBus)).toEqual([]);
  });
});
