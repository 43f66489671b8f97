-- One decision per take. Before, decisions on a take were never refused: the sensor acted on
-- the first while the status showed the last. Later decisions on an already decided take are
-- kept for the record as `void` (never acted on, never shown); the index refuses new ones.
ALTER TABLE approvals ADD COLUMN void boolean NOT NULL DEFAULT false;
UPDATE approvals a SET void = true
WHERE EXISTS (
    SELECT 1 FROM approvals b
    WHERE b.script_id = a.script_id AND b.section_id = a.section_id AND b.take = a.take
      AND b.id < a.id
);
CREATE UNIQUE INDEX approvals_one_per_take ON approvals (script_id, section_id, take) WHERE NOT void;
