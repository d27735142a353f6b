-- Which version of each model name is served: set when a version is promoted, moved back by a rollback.
CREATE TABLE served_models (
    name TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    promoted_at REAL NOT NULL,
    FOREIGN KEY (name, version) REFERENCES models(name, version) ON DELETE RESTRICT
);
