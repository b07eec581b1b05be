CREATE TABLE "image_stream_tags" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"namespace" text NOT NULL,
	"image_stream" text NOT NULL,
	"tag" text NOT NULL,
	"digest" text NOT NULL,
	"image_reference" text NOT NULL,
	"cause_type" text NOT NULL,
	"build_name" text,
	"cause_message" text,
	"generation" bigint NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "registry_notification_events" (
	"source" text NOT NULL,
	"event_id" text NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "image_stream_tags_namespace_stream_tag_created" ON "image_stream_tags" USING btree ("namespace","image_stream","tag","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "registry_notification_events_source_event_id" ON "registry_notification_events" USING btree ("source","event_id");