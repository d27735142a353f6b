-- Where a model version came from: 'trained' (a checkpoint of a training job here) or an imported file's kind.
ALTER TABLE models ADD COLUMN origin TEXT NOT NULL DEFAULT 'trained';
