-- Actual cost as Replicate bills it. Each job keeps the billing rule it was estimated with
-- (`pricing`, the registry entry's), and says where its actual cost comes from: `billed`
-- (computed from Replicate's figures: metrics.predict_time x the hardware's rate, or the number
-- of outputs) or `estimated` (no figures: the estimate stands in). Hardware rates are quoted to
-- the millionth of a dollar, so costs keep six decimals.
ALTER TABLE jobs
    ALTER COLUMN estimated_cost_usd TYPE numeric(14, 6),
    ALTER COLUMN actual_cost_usd TYPE numeric(14, 6),
    ADD COLUMN pricing jsonb,
    ADD COLUMN cost_source text CHECK (cost_source IN ('billed', 'estimated'));

-- Jobs of the registry's models get the rule the registry gives them now (config/models.json;
-- rates of https://replicate.com/pricing, read 2026-12-06).
CREATE TEMPORARY TABLE billing_0012 (model_id text PRIMARY KEY, pricing jsonb, usd_per_second numeric)
    ON COMMIT DROP;
INSERT INTO billing_0012 VALUES
    ('flux-schnell', '{"basis": "output", "usd": 0.003}', NULL),
    ('sdxl', '{"basis": "hardware", "hardware": "gpu-l40s"}', 0.000975),
    ('stability-video', '{"basis": "hardware", "hardware": "gpu-a100-large"}', 0.001400),
    ('musicgen', '{"basis": "hardware", "hardware": "gpu-a100-large"}', 0.001400),
    ('kokoro-82m', '{"basis": "hardware", "hardware": "gpu-t4"}', 0.000225);
UPDATE jobs SET pricing = b.pricing FROM billing_0012 b WHERE jobs.model_id = b.model_id;

-- Ended jobs priced from what Replicate reported: active seconds on the model's hardware ...
UPDATE jobs SET actual_cost_usd = round(jobs.predict_time_s::numeric * b.usd_per_second, 6),
    cost_source = 'billed'
FROM billing_0012 b
WHERE jobs.model_id = b.model_id AND b.usd_per_second IS NOT NULL
    AND jobs.predict_time_s IS NOT NULL
    AND jobs.status IN ('succeeded', 'failed', 'canceled', 'expired');
-- ... or the images a per-image model made (none when it did not succeed) ...
UPDATE jobs SET cost_source = 'billed', actual_cost_usd = CASE
        WHEN status IN ('succeeded', 'expired') THEN 0.003 * CASE jsonb_typeof(output)
            WHEN 'array' THEN jsonb_array_length(output) WHEN 'string' THEN 1 ELSE 0 END
        ELSE 0 END
WHERE model_id = 'flux-schnell' AND prediction_id IS NOT NULL
    AND status IN ('succeeded', 'failed', 'canceled', 'aborted', 'expired');
-- ... and nothing for a prediction that never started.
UPDATE jobs SET actual_cost_usd = 0, cost_source = 'billed'
WHERE status = 'aborted' AND cost_source IS NULL;
-- Every other ended job: its actual cost was the estimate copied in; say so.
UPDATE jobs SET cost_source = 'estimated', actual_cost_usd = COALESCE(actual_cost_usd, estimated_cost_usd)
WHERE cost_source IS NULL AND prediction_id IS NOT NULL
    AND status IN ('succeeded', 'failed', 'canceled', 'expired');
