-- The periodic ticks' one schedule, shared by every instance: a tick runs
-- when it is due here and its instance holds the tick's lease, and that
-- instance moves next_due_at one period on (from the due time, not from
-- when it ran) in the transaction that releases the lease, so N instances
-- run each tick once per period. The first instance to start seeds it.
CREATE TABLE tick_schedule (
    name        TEXT PRIMARY KEY,
    next_due_at BIGINT NOT NULL
);
