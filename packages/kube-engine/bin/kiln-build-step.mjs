#!/usr/bin/env node
// The build pod's step command (`kiln-build-step fetch|build`), in the Kiln image. Kiln ships as
// TypeScript source; tsx compiles it on the fly, as for the `kiln` CLI. register() must run
// before the first .ts import.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/build-step.ts");
process.exitCode = await main(process.argv.slice(2));
