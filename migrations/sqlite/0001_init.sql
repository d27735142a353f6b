-- Kennel's first schema: the five tables of DESIGN.md ("Data model").
-- Never edit this file once shipped; change the schema with a new numbered file.

CREATE TABLE datasets (
    name TEXT PRIMARY KEY NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    format TEXT NOT NULL CHECK (format IN ('imagefolder', 'idx')),
    path TEXT NOT NULL,
    width INTEGER NOT NULL CHECK (width > 0),
    height INTEGER NOT NULL CHECK (height > 0),
    channels INTEGER NOT NULL CHECK (channels IN (1, 3)),
    classes_json TEXT NOT NULL DEFAULT '[]',
    train_count INTEGER NOT NULL DEFAULT 0 CHECK (train_count >= 0),
    test_count INTEGER NOT NULL DEFAULT 0 CHECK (test_count >= 0),
    skipped_json TEXT NOT NULL DEFAULT '[]',
    shard_path TEXT,
    created_at REAL NOT NULL
);

-- `dataset` is a name, not a foreign key: an import job exists before the dataset row it creates.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('train', 'import')),
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    spec_json TEXT NOT NULL,
    dataset TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    progress REAL NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    error TEXT,
    resumed_from INTEGER REFERENCES checkpoints(id) ON DELETE SET NULL
);
CREATE INDEX jobs_by_state ON jobs(state, id);
CREATE INDEX jobs_by_dataset ON jobs(dataset);

-- One row per (job, tag, step): the primary key is the (job_id, tag, step) index, and forbids duplicates
-- when a resumed job writes a step again.
CREATE TABLE metrics (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    step INTEGER NOT NULL CHECK (step >= 0),
    wall_time REAL NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (job_id, tag, step)
) WITHOUT ROWID;

CREATE TABLE checkpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    step INTEGER NOT NULL CHECK (step >= 0),
    epoch INTEGER NOT NULL CHECK (epoch >= 0),
    path TEXT NOT NULL UNIQUE,
    bytes INTEGER NOT NULL CHECK (bytes > 0),
    sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
    metrics_json TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    UNIQUE (job_id, step)
);

CREATE TABLE models (
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    version INTEGER NOT NULL CHECK (version >= 1),
    checkpoint_id INTEGER NOT NULL REFERENCES checkpoints(id) ON DELETE RESTRICT,
    labels_json TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE INDEX models_by_checkpoint ON models(checkpoint_id);
