-- Who asked to cancel a run: the process driving it sees this at its next lease renewal.
ALTER TABLE runs ADD COLUMN cancel_requested TEXT;
