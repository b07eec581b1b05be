// Kiln's lint: a few rules, each for a promise the code makes (see ../shared/style.md, R2 and R14).
import tseslint from "typescript-eslint";
import importX from "eslint-plugin-import-x";
import { createTypeScriptImportResolver } from "eslint-import-resolver-typescript";

/** I/O libraries the pure domain package may not import (R2: it is tested without servers). */
const ioLibraries = [
  "nats",
  "@nats-io/*",
  "pg",
  "drizzle-orm",
  "drizzle-orm/*",
  "pino",
  "fastify",
  "@fastify/*",
  "@kubernetes/client-node",
  "undici",
];

export default tseslint.config(
  { ignores: ["**/node_modules/**", ".tools/**", ".kiln/**", "bench/results/**"] },
  {
    files: ["**/*.ts"],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { "@typescript-eslint": tseslint.plugin, "import-x": importX },
    // The TypeScript resolver maps NodeNext's `./x.js` specifiers to `./x.ts`, as tsc does.
    settings: {
      "import-x/resolver-next": [createTypeScriptImportResolver({ project: "tsconfig.json" })],
      "import-x/extensions": [".ts", ".js"],
      "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
    },
    rules: {
      // A promise nobody awaits loses its error and its ordering: await it, or say `void`.
      "@typescript-eslint/no-floating-promises": "error",
      // An async function where a callback's result is ignored (an event handler, a forEach) is a floating promise in disguise.
      "@typescript-eslint/no-misused-promises": "error",
      // A switch over a union handles every member, so adding a phase or a reason breaks the build, not a user.
      "@typescript-eslint/switch-exhaustiveness-check": [
        "error",
        { considerDefaultExhaustiveForUnions: true },
      ],
      // Package boundaries hold only without cycles between modules.
      "import-x/no-cycle": ["error", { ignoreExternal: true }],
      // Each package is used through its one public index.ts, never by reaching into another package's src/.
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["@kiln/*/src", "@kiln/*/src/*", "**/packages/*/src/**"],
              message: "import the package's public entry (@kiln/<name>), not its src/",
            },
          ],
        },
      ],
    },
  },
  {
    // The domain package does no I/O (R2): no Node module, no I/O library, no other Kiln package.
    files: ["packages/domain/src/**/*.ts"],
    ignores: ["packages/domain/src/**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["node:*"], message: "packages/domain does no I/O: no node: modules" },
            { group: ioLibraries, message: "packages/domain does no I/O: no I/O libraries" },
            { group: ["@kiln/*"], message: "packages/domain depends on no other Kiln package" },
          ],
        },
      ],
    },
  },
);
