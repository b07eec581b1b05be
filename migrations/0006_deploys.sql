CREATE TABLE "deploys" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"key" text NOT NULL,
	"namespace" text NOT NULL,
	"target_kind" text NOT NULL,
	"target_namespace" text,
	"target_name" text,
	"target_containers" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"target_url" text,
	"image_stream_tag" text,
	"digest" text,
	"image_reference" text,
	"previous_image" text,
	"cause_type" text NOT NULL,
	"cause_build" text,
	"cause_message" text,
	"status" text NOT NULL,
	"reason" text,
	"message" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"generation" bigint,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"completed_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "deploys_key" ON "deploys" USING btree ("key");--> statement-breakpoint
CREATE INDEX "deploys_namespace_created" ON "deploys" USING btree ("namespace","created_at");--> statement-breakpoint
CREATE INDEX "deploys_status" ON "deploys" USING btree ("status");