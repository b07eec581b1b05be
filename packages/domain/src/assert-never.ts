/** Compile-time exhaustiveness check for switches over unions; throws if reached at run time. */
export function assertNever(value: never, what = "value"): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value)}`);
}
