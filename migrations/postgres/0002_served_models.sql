-- Which version of each model name is served: set when a version is promoted, moved back by a rollback.
CREATE TABLE served_models (
    name TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL,
    promoted_at DOUBLE PRECISION NOT NULL,
    FOREIGN KEY (name, version) REFERENCES models(name, version) ON DELETE RESTRICT
);
