-- Why a script failed (a prediction out of attempts), and how many rounds of attempts an
-- operator has granted since (`vsl scripts retry`): each round allows three more.
ALTER TABLE scripts ADD COLUMN error text;
ALTER TABLE scripts ADD COLUMN attempt_rounds integer NOT NULL DEFAULT 1;
