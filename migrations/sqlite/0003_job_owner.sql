-- Which process runs a job ("host:pid:start-time"), so a starting server resumes only jobs whose process died,
-- never one that `kennel train` is still running in the foreground.
ALTER TABLE jobs ADD COLUMN owner TEXT;
