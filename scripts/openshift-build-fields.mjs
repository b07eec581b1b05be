#!/usr/bin/env node
// Writes the field paths of OpenShift's build.openshift.io/v1 BuildConfig and Build, the fixture
// that packages/domain/src/resources/openshift-fields.test.ts checks Kiln's three lists against.
// Usage: node scripts/openshift-build-fields.mjs OPENAPI_JSON COMMIT > packages/domain/src/resources/testdata/openshift-build-v1-fields.json
// OPENAPI_JSON is openapi/openapi.json of github.com/openshift/api at COMMIT.
import { readFileSync } from "node:fs";

const [file, commit] = process.argv.slice(2);
if (!file || !commit) {
  console.error("usage: openshift-build-fields.mjs OPENAPI_JSON COMMIT");
  process.exit(2);
}
const definitions = JSON.parse(readFileSync(file, "utf8")).definitions;
// Kubernetes' own leaf types: ObjectMeta is Kubernetes' metadata, the others are scalars.
const leaves = new Set([
  "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
  "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
  "io.k8s.apimachinery.pkg.api.resource.Quantity",
  "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
]);
const refOf = (schema) => (schema?.$ref ?? schema?.allOf?.[0]?.$ref)?.replace("#/definitions/", "");

function walk(name, prefix, out, seen) {
  for (const [key, schema] of Object.entries(definitions[name]?.properties ?? {})) {
    if (!prefix && (key === "apiVersion" || key === "kind")) continue;
    const path = prefix ? `${prefix}.${key}` : key;
    if (schema.type === "object" && schema.additionalProperties) {
      out.push(path); // a map (labels, limits): its keys are the user's, not fields
      continue;
    }
    const list = schema.type === "array";
    out.push(list ? `${path}[]` : path);
    const ref = refOf(list ? schema.items : schema);
    if (ref && !leaves.has(ref) && !seen.includes(ref))
      walk(ref, list ? `${path}[]` : path, out, [...seen, ref]);
  }
}

const fields = (kind) => {
  const out = [];
  walk(`com.github.openshift.api.build.v1.${kind}`, "", out, []);
  return out;
};
const result = {
  $comment: `Field paths of build.openshift.io/v1 BuildConfig and Build (metadata is Kubernetes ObjectMeta, not walked), walked from github.com/openshift/api openapi/openapi.json (definitions com.github.openshift.api.build.v1.BuildConfig and .Build, every $ref followed except ObjectMeta, Time, Quantity) at commit ${commit}. [] marks a list item. Regenerate with scripts/openshift-build-fields.mjs.`,
  BuildConfig: fields("BuildConfig"),
  Build: fields("Build"),
};
// Formatted as prettier formats the committed file.
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
