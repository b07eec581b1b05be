import { defineConfig } from "drizzle-kit";

// `npm run db:generate` writes SQL migrations into migrations/ from the drizzle schema.
export default defineConfig({
  dialect: "postgresql",
  schema: "./packages/db/src/schema.ts",
  out: "./migrations",
});
