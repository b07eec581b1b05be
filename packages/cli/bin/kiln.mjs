#!/usr/bin/env node
// The CLI ships as TypeScript source like every other package; tsx compiles it on the fly so
// `npx kiln` needs no build step. register() must run before the first .ts import.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/main.ts");
process.exitCode = await main(process.argv.slice(2));
