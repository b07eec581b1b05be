CREATE TABLE "webhook_deliveries" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"provider" text NOT NULL,
	"delivery_id" text,
	"namespace" text NOT NULL,
	"build_config" text NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"outcome" text NOT NULL,
	"reason" text,
	"message" text,
	"request_id" text,
	"commit" text,
	"ref" text,
	"published_at" timestamp with time zone
);
--> statement-breakpoint
CREATE UNIQUE INDEX "webhook_deliveries_provider_delivery_id" ON "webhook_deliveries" USING btree ("provider","delivery_id") WHERE outcome <> 'rejected';--> statement-breakpoint
CREATE INDEX "webhook_deliveries_namespace_build_config_received" ON "webhook_deliveries" USING btree ("namespace","build_config","received_at");