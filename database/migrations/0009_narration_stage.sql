-- Narration (issue 13): a section's narration spoken by a text-to-speech model is a stage of
-- its own, with jobs and takes like the clip's. Only the allowed stages change.
ALTER TABLE jobs DROP CONSTRAINT jobs_stage_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_stage_check
    CHECK (stage IN ('keyframe', 'clip', 'soundtrack', 'narration', 'adhoc'));
ALTER TABLE takes DROP CONSTRAINT takes_stage_check;
ALTER TABLE takes ADD CONSTRAINT takes_stage_check
    CHECK (stage IN ('keyframe', 'clip', 'soundtrack', 'narration', 'adhoc'));
