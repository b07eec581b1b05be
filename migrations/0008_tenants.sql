CREATE TABLE "api_tokens" (
	"name" text PRIMARY KEY NOT NULL,
	"token_sha256" text NOT NULL,
	"roles" jsonb NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "image_stream_grants" (
	"uid" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"namespace" text NOT NULL,
	"name" text NOT NULL,
	"meta" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"spec" jsonb NOT NULL,
	"resource_version" bigint DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "api_tokens_token_sha256" ON "api_tokens" USING btree ("token_sha256");--> statement-breakpoint
CREATE UNIQUE INDEX "image_stream_grants_namespace_name" ON "image_stream_grants" USING btree ("namespace","name");