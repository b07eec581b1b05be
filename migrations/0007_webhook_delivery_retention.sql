CREATE TABLE "webhook_refusal_counts" (
	"hour" timestamp with time zone NOT NULL,
	"reason" text NOT NULL,
	"provider" text NOT NULL,
	"count" bigint NOT NULL,
	CONSTRAINT "webhook_refusal_counts_hour_reason_provider_pk" PRIMARY KEY("hour","reason","provider")
);
--> statement-breakpoint
CREATE INDEX "webhook_deliveries_received" ON "webhook_deliveries" USING btree ("received_at");