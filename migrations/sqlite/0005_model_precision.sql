-- The number format each model version is served in. A bf16 or int8 version records the test-split accuracy it
-- and the same checkpoint in float32 reached when it was promoted; an int8 one also records its calibration
-- (each stage's input range, JSON), so that loading it again quantizes exactly as at promotion.
ALTER TABLE models ADD COLUMN precision TEXT NOT NULL DEFAULT 'fp32';
ALTER TABLE models ADD COLUMN test_accuracy REAL;
ALTER TABLE models ADD COLUMN fp32_test_accuracy REAL;
ALTER TABLE models ADD COLUMN calibration_json TEXT;
