import { join } from "node:path";
import { buildBusyboxImage } from "@kiln/infra";
import { sharedTemplatesNamespace } from "./templates.js";

/** An S2I builder `kiln up --demo` makes from Debian's busybox-static, and the template that names it. */
interface DemoBuilder {
  template: string;
  description: string;
  codeFramework: string;
  detect: string[];
  /** assemble and run, as an image author writes them for `/usr/libexec/s2i`. */
  scripts: { assemble: string; run: string };
  applets: string[];
  env: { name: string; value: string }[];
}

// Busybox is all the demo has: the templates build what busybox can serve or run, for real.
const demoBuilders: readonly DemoBuilder[] = [
  {
    template: "static",
    description: "Static web site served by busybox httpd on port 8080",
    codeFramework: "static",
    detect: ["index.html"],
    scripts: {
      assemble: `#!/bin/sh
set -e
echo "static: copying the site"
mkdir -p /opt/app-root/src
cp -R /tmp/src/. /opt/app-root/src/
ls /opt/app-root/src
`,
      run: `#!/bin/sh
exec httpd -f -p "\${PORT:-8080}" -h /opt/app-root/src
`,
    },
    applets: ["httpd", "ls", "rm", "id", "chown", "tar"],
    env: [{ name: "PORT", value: "8080" }],
  },
  {
    template: "shell",
    description: "POSIX shell application: app.sh run by busybox sh",
    codeFramework: "shell",
    detect: ["app.sh"],
    scripts: {
      assemble: `#!/bin/sh
set -e
echo "shell: installing app.sh"
mkdir -p /opt/app-root/src
cp -R /tmp/src/. /opt/app-root/src/
chmod 0755 /opt/app-root/src/app.sh
sh -n /opt/app-root/src/app.sh
`,
      run: `#!/bin/sh
cd /opt/app-root/src
exec sh ./app.sh "$@"
`,
    },
    applets: ["chmod", "ls", "rm", "id", "chown", "tar", "grep", "wc", "date"],
    env: [],
  },
];

/** The demo builders' image names in Kiln's registry (beside the demo's base image). */
function demoBuilderImage(registry: string, template: string): string {
  return `${registry}/base/s2i-${template}:latest`;
}

export interface DemoTemplateOptions {
  registry: string;
  buildah: string;
  storageDir: string;
  authFile: string;
  /** Whether the registry holds `repository:tag` already: built once, kept across `kiln up`s. */
  exists: (repository: string, tag: string) => Promise<boolean>;
}

/**
 * Builds the demo's S2I builder images (when the registry does not hold them yet) and returns
 * the shared BuilderTemplates naming them, for `kiln apply`.
 */
export async function demoTemplates(o: DemoTemplateOptions): Promise<Record<string, unknown>[]> {
  const docs: Record<string, unknown>[] = [];
  for (const b of demoBuilders) {
    const ref = demoBuilderImage(o.registry, b.template);
    if (!(await o.exists(`base/s2i-${b.template}`, "latest"))) {
      await buildBusyboxImage({
        buildah: o.buildah,
        storageDir: join(o.storageDir, "buildah"),
        ref,
        authFile: o.authFile,
        extraApplets: b.applets,
        files: {
          "/usr/libexec/s2i/assemble": b.scripts.assemble,
          "/usr/libexec/s2i/run": b.scripts.run,
        },
        labels: { "io.openshift.s2i.scripts-url": "image:///usr/libexec/s2i" },
        user: "1001",
        writableDirs: ["/tmp", "/opt/app-root"],
      });
    }
    docs.push({
      apiVersion: "kiln.dev/v1",
      kind: "BuilderTemplate",
      metadata: { name: b.template, namespace: sharedTemplatesNamespace },
      spec: {
        description: b.description,
        codeFramework: b.codeFramework,
        versions: [{ name: "latest", builderImage: { kind: "DockerImage", name: ref } }],
        env: b.env,
        detect: { files: b.detect },
      },
    });
  }
  return docs;
}
