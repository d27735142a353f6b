-- Leases: a running job belongs to its owner until lease_expires_at (seconds since 1970 on the database's clock),
-- which the owner's heartbeat keeps moving forward. When it lapses (the owner died or lost the database), any
-- worker takes the job over and resumes it. cancel_requested carries a cancellation from whichever process
-- received it to the one that runs the job.
ALTER TABLE jobs ADD COLUMN lease_expires_at DOUBLE PRECISION;
ALTER TABLE jobs ADD COLUMN cancel_requested BIGINT NOT NULL DEFAULT 0;
