-- How many times in a row the process died while running a job before the job finished a step: a job that
-- was running at two such deaths is failed at the next start instead of being run again (a job that kills the
-- process would otherwise keep the server in a crash loop). A clean stop leaves the owner empty and does not count.
ALTER TABLE jobs ADD COLUMN crashes BIGINT NOT NULL DEFAULT 0;
