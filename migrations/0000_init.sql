CREATE TABLE "build_configs" (
	"uid" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"namespace" text NOT NULL,
	"name" text NOT NULL,
	"meta" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"spec" jsonb NOT NULL,
	"resource_version" bigint DEFAULT 1 NOT NULL,
	"last_version" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "builds" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"namespace" text NOT NULL,
	"name" text NOT NULL,
	"build_config" text NOT NULL,
	"number" integer NOT NULL,
	"phase" text NOT NULL,
	"reason" text,
	"message" text,
	"spec" jsonb NOT NULL,
	"request_id" text NOT NULL,
	"output" jsonb,
	"log_snippet" text,
	"attempt" integer DEFAULT 0 NOT NULL,
	"resource_version" bigint DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"completed_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "image_streams" (
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
CREATE UNIQUE INDEX "build_configs_namespace_name" ON "build_configs" USING btree ("namespace","name");--> statement-breakpoint
CREATE UNIQUE INDEX "builds_namespace_name" ON "builds" USING btree ("namespace","name");--> statement-breakpoint
CREATE UNIQUE INDEX "builds_request_id" ON "builds" USING btree ("request_id");--> statement-breakpoint
CREATE INDEX "builds_namespace_build_config_number" ON "builds" USING btree ("namespace","build_config","number");--> statement-breakpoint
CREATE UNIQUE INDEX "image_streams_namespace_name" ON "image_streams" USING btree ("namespace","name");