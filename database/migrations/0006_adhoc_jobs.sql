-- Ad-hoc generations (`POST /api/generate-media`) are jobs without a script, and every job gets
-- the public id clients follow it by (`GET /api/status/{jobId}`), its media type and, for
-- ad-hoc jobs, the user it was made for. Their output is a take without a script (stage
-- `adhoc`); a take records its size and content type for the status document.
ALTER TABLE jobs ALTER COLUMN script_id DROP NOT NULL;
ALTER TABLE jobs ADD COLUMN public_id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE jobs ADD CONSTRAINT jobs_public_id_key UNIQUE (public_id);
ALTER TABLE jobs ADD COLUMN user_id text;
ALTER TABLE jobs ADD COLUMN media_type text;
UPDATE jobs SET media_type = CASE stage WHEN 'keyframe' THEN 'image' WHEN 'clip' THEN 'video'
                                        ELSE 'audio' END;
ALTER TABLE jobs ALTER COLUMN media_type SET NOT NULL;
ALTER TABLE jobs ADD CONSTRAINT jobs_media_type_check
    CHECK (media_type IN ('image', 'video', 'audio'));
ALTER TABLE jobs DROP CONSTRAINT jobs_stage_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_stage_check
    CHECK (stage IN ('keyframe', 'clip', 'soundtrack', 'adhoc'));
ALTER TABLE jobs ADD CONSTRAINT jobs_adhoc_has_no_script CHECK ((stage = 'adhoc') = (script_id IS NULL));
-- The sensor looks for a day's finished, uncollected ad-hoc jobs.
CREATE INDEX jobs_adhoc_uncollected ON jobs (created_at)
    WHERE stage = 'adhoc' AND collected_at IS NULL;

ALTER TABLE takes ALTER COLUMN script_id DROP NOT NULL;
ALTER TABLE takes DROP CONSTRAINT takes_stage_check;
ALTER TABLE takes ADD CONSTRAINT takes_stage_check
    CHECK (stage IN ('keyframe', 'clip', 'soundtrack', 'adhoc'));
ALTER TABLE takes ADD CONSTRAINT takes_adhoc_has_no_script CHECK ((stage = 'adhoc') = (script_id IS NULL));
ALTER TABLE takes ADD COLUMN size_bytes bigint;
ALTER TABLE takes ADD COLUMN content_type text;
CREATE UNIQUE INDEX takes_adhoc_job ON takes (job_id) WHERE stage = 'adhoc';
CREATE INDEX takes_job ON takes (job_id);
