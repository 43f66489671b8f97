-- A section's narration is decided on its own (issue 13, part 2). Before, the narration took
-- the section's clip take number, so rejecting a clip spoke the narration again and a wrong
-- word could only be fixed by regenerating the picture. Now the narration has its own take
-- (`narration_take`, started by a narration rejection with the reviewer's corrected text and
-- voice parameters in `narration_overrides`), and the approval log says what each decision is
-- about (`subject`): one decision per take of each subject.
ALTER TABLE sections ADD COLUMN narration_take integer NOT NULL DEFAULT 1;
ALTER TABLE sections ADD COLUMN narration_overrides jsonb NOT NULL DEFAULT '{}'::jsonb;
-- Existing narrations were generated under the section's current take.
UPDATE sections SET narration_take = current_take;

ALTER TABLE approvals ADD COLUMN subject text NOT NULL DEFAULT 'clip'
    CHECK (subject IN ('clip', 'narration'));
ALTER TABLE approvals ADD COLUMN params jsonb;  -- a narration rejection's voice parameters
ALTER TABLE approvals ADD COLUMN text text;     -- a narration rejection's corrected words
DROP INDEX approvals_one_per_take;
CREATE UNIQUE INDEX approvals_one_per_take
    ON approvals (script_id, section_id, subject, take) WHERE NOT void;

-- Until now a clip's approval approved its section's narration too. So that an approved
-- script stays approved, each approval of a take whose narration is stored is carried over
-- to that narration. The copies take the negated id of the decision they come from: the
-- approval sensor reads ids above its cursor (never negative), and acted on that decision
-- already (or will, through the original), so no copy asks for a second compile.
-- Rejections are not copied: the one not yet acted on regenerates only the clip now, and its
-- narration waits for its own decision.
INSERT INTO approvals (id, script_id, section_id, take, decision, note, reviewer, created_at,
                       subject)
SELECT -a.id, a.script_id, a.section_id, a.take, a.decision, a.note, a.reviewer, a.created_at,
       'narration'
FROM approvals a
WHERE a.subject = 'clip' AND NOT a.void AND a.decision = 'approved'
  AND EXISTS (
      SELECT 1 FROM takes t
      WHERE t.script_id = a.script_id AND t.section_id = a.section_id
        AND t.stage = 'narration' AND t.take = a.take
  );
