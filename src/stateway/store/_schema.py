"""Schema migrations, applied in order; ``meta.schema_version`` says how far a database is."""

MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE flows (
        name TEXT PRIMARY KEY, id TEXT NOT NULL, definition TEXT NOT NULL, meta TEXT NOT NULL,
        created REAL NOT NULL, modified REAL NOT NULL);
    CREATE TABLE executions (
        id INTEGER PRIMARY KEY AUTOINCREMENT, flow_name TEXT NOT NULL, name TEXT NOT NULL,
        status TEXT NOT NULL, input TEXT NOT NULL, output TEXT, error TEXT, cause TEXT,
        started REAL NOT NULL, stopped REAL, state TEXT, definition TEXT NOT NULL,
        parent_id INTEGER, parent_task TEXT, callback_token TEXT,
        UNIQUE (flow_name, name));
    CREATE INDEX executions_parent ON executions (parent_id, parent_task);
    CREATE INDEX executions_status ON executions (status);
    CREATE TABLE history (
        execution_id INTEGER NOT NULL, event_id INTEGER NOT NULL, type TEXT NOT NULL,
        step_name TEXT NOT NULL, time REAL NOT NULL, schedule_event_id INTEGER NOT NULL,
        detail TEXT NOT NULL, PRIMARY KEY (execution_id, event_id)) WITHOUT ROWID;
    CREATE TABLE inbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT, execution_id INTEGER NOT NULL, due REAL NOT NULL,
        timer_id TEXT, event TEXT NOT NULL);
    CREATE INDEX inbox_due ON inbox (due);
    CREATE INDEX inbox_execution ON inbox (execution_id, id);
    CREATE TABLE open_tasks (
        execution_id INTEGER NOT NULL, task_id TEXT NOT NULL, token TEXT NOT NULL, state TEXT NOT NULL,
        step TEXT NOT NULL, action TEXT NOT NULL, mode TEXT NOT NULL, opened REAL NOT NULL,
        PRIMARY KEY (execution_id, task_id)) WITHOUT ROWID;
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT, execution_id INTEGER NOT NULL, command TEXT NOT NULL);
    CREATE TABLE invocations (
        id TEXT PRIMARY KEY, function TEXT NOT NULL, event TEXT NOT NULL, status TEXT NOT NULL,
        execution_id INTEGER, task_id TEXT, notify INTEGER NOT NULL, created REAL NOT NULL,
        result TEXT, error TEXT, cause TEXT);
    CREATE INDEX invocations_status ON invocations (status, created);
    CREATE TABLE queues (name TEXT PRIMARY KEY, attributes TEXT NOT NULL, created REAL NOT NULL);
    CREATE TABLE messages (
        id TEXT PRIMARY KEY, queue TEXT NOT NULL, body TEXT NOT NULL, priority INTEGER NOT NULL,
        visible_at REAL NOT NULL, enqueued REAL NOT NULL, first_dequeued REAL, dequeue_count INTEGER NOT NULL,
        receipt_handle TEXT, seq INTEGER NOT NULL);
    CREATE INDEX messages_ready ON messages (queue, visible_at, priority, seq);
    """,
]

MIGRATIONS.append(
    """
    CREATE TABLE schedules (
        flow_name TEXT NOT NULL, name TEXT NOT NULL, id TEXT NOT NULL, cron TEXT NOT NULL,
        description TEXT NOT NULL, enable INTEGER NOT NULL, payload TEXT NOT NULL,
        created REAL NOT NULL, modified REAL NOT NULL, next_fire REAL,
        PRIMARY KEY (flow_name, name));
    CREATE INDEX schedules_due ON schedules (enable, next_fire);
    """
)

# signature nonces seen within the clock-skew window, so a captured request cannot be replayed,
# not even after a restart; ``seen`` orders the expiry sweep
MIGRATIONS.append(
    """
    CREATE TABLE nonces (nonce TEXT PRIMARY KEY, seen REAL NOT NULL) WITHOUT ROWID;
    CREATE INDEX nonces_seen ON nonces (seen);
    """
)

# Claims: due work (an execution's inbox), outbox commands and async invocations carry the id of
# the worker that took them and when its lease runs out (seconds since the epoch).
MIGRATIONS.append(
    """
    ALTER TABLE executions ADD COLUMN owner TEXT;
    ALTER TABLE executions ADD COLUMN lease_until REAL;
    ALTER TABLE outbox ADD COLUMN owner TEXT;
    ALTER TABLE outbox ADD COLUMN lease_until REAL;
    ALTER TABLE invocations ADD COLUMN owner TEXT;
    ALTER TABLE invocations ADD COLUMN lease_until REAL;
    CREATE INDEX executions_owner ON executions (owner);
    CREATE INDEX outbox_owner ON outbox (owner);
    CREATE INDEX invocations_owner ON invocations (owner);
    """
)

# Versions and aliases (versions-and-maprun.md §1-§3): keyed by the flow's id, so a flow deleted and
# created again under the same name starts over at version 1.
MIGRATIONS.append(
    """
    CREATE TABLE flow_versions (
        flow_id TEXT NOT NULL, version INTEGER NOT NULL, definition TEXT NOT NULL, meta TEXT NOT NULL,
        description TEXT NOT NULL, created REAL NOT NULL, flow_modified REAL NOT NULL,
        PRIMARY KEY (flow_id, version));
    CREATE TABLE flow_version_seq (flow_id TEXT PRIMARY KEY, last INTEGER NOT NULL);
    CREATE TABLE flow_aliases (
        flow_id TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL, routing TEXT NOT NULL,
        created REAL NOT NULL, PRIMARY KEY (flow_id, name));
    ALTER TABLE executions ADD COLUMN flow_version TEXT NOT NULL DEFAULT '';
    ALTER TABLE executions ADD COLUMN qualifier TEXT NOT NULL DEFAULT '';
    ALTER TABLE executions ADD COLUMN map_run TEXT NOT NULL DEFAULT '';
    CREATE INDEX executions_map_run ON executions (flow_name, map_run, id);
    CREATE TABLE map_runs (
        name TEXT PRIMARY KEY, execution_id INTEGER NOT NULL, task_id TEXT NOT NULL, flow_name TEXT NOT NULL,
        flow_version TEXT NOT NULL, status TEXT NOT NULL, concurrency INTEGER NOT NULL, tolerated_count INTEGER,
        tolerated_percentage REAL, execution_mode TEXT NOT NULL, definition TEXT NOT NULL, started REAL NOT NULL,
        stopped REAL, error TEXT, cause TEXT, n_pending INTEGER NOT NULL, n_running INTEGER NOT NULL,
        n_succeeded INTEGER NOT NULL, n_failed INTEGER NOT NULL, n_aborted INTEGER NOT NULL, live INTEGER NOT NULL,
        globals TEXT NOT NULL, writer TEXT);
    CREATE INDEX map_runs_execution ON map_runs (execution_id);
    CREATE INDEX map_runs_status ON map_runs (status);
    CREATE TABLE map_run_items (
        run TEXT NOT NULL, idx INTEGER NOT NULL, status TEXT NOT NULL, weight INTEGER NOT NULL, input TEXT NOT NULL,
        output TEXT, error TEXT, cause TEXT, PRIMARY KEY (run, idx)) WITHOUT ROWID;
    CREATE INDEX map_run_items_status ON map_run_items (run, status, idx);
    """
)

# the console's listings: newest first across flows, by flow, by start time, by name prefix
MIGRATIONS.append(
    """
    CREATE INDEX IF NOT EXISTS executions_flow_id ON executions (flow_name, id);
    CREATE INDEX IF NOT EXISTS executions_started ON executions (started);
    CREATE INDEX IF NOT EXISTS executions_name ON executions (name);
    """
)

# server: console sessions kept server-side (hashed ids), so sign-out and key removal end them
MIGRATIONS.append(
    """
    CREATE TABLE IF NOT EXISTS console_sessions (id TEXT PRIMARY KEY, key_id TEXT NOT NULL, expires REAL NOT NULL);
    CREATE INDEX IF NOT EXISTS console_sessions_key ON console_sessions (key_id);
    CREATE INDEX IF NOT EXISTS console_sessions_expires ON console_sessions (expires);
    """
)

# fn: how often each outbox command and async invocation was handed out (a worker that died took
# the earlier ones with it), and function calls that gave no result (poison calls, max_dispatches)
MIGRATIONS.append(
    """
    ALTER TABLE outbox ADD COLUMN dispatches INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE invocations ADD COLUMN dispatches INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE function_dispatches (
        id TEXT PRIMARY KEY, execution_id INTEGER, task_id TEXT, function TEXT NOT NULL, lost INTEGER NOT NULL,
        last_exit TEXT NOT NULL, last_stderr TEXT NOT NULL, gave_up INTEGER NOT NULL, updated REAL NOT NULL);
    CREATE INDEX function_dispatches_execution ON function_dispatches (execution_id);
    """
)

# ops: redrive (count, last redrive), retention (ended executions by flow and end time) and bulk
# operations (a durable job paged by keyset on the execution id)
MIGRATIONS.append(
    """
    ALTER TABLE executions ADD COLUMN redrive_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE executions ADD COLUMN redriven REAL;
    CREATE INDEX IF NOT EXISTS executions_ended ON executions (flow_name, stopped);
    CREATE INDEX IF NOT EXISTS invocations_execution ON invocations (execution_id);
    CREATE INDEX IF NOT EXISTS outbox_execution ON outbox (execution_id);
    CREATE TABLE IF NOT EXISTS bulk_operations (
        id TEXT PRIMARY KEY, operation TEXT NOT NULL, filter TEXT NOT NULL, status TEXT NOT NULL,
        created REAL NOT NULL, updated REAL NOT NULL, max_id INTEGER NOT NULL, cursor INTEGER NOT NULL,
        total INTEGER NOT NULL, n_done INTEGER NOT NULL, n_skipped INTEGER NOT NULL, n_failed INTEGER NOT NULL,
        owner TEXT, lease_until REAL, reason TEXT);
    CREATE INDEX IF NOT EXISTS bulk_operations_status ON bulk_operations (status, created);
    """
)

# worker: correlation keys of callback tasks (CorrelationKey.$), unique among a flow's open tasks;
# a row left by a closed task is taken over by the next claim
MIGRATIONS.append(
    """
    CREATE TABLE task_keys (
        flow_name TEXT NOT NULL, key TEXT NOT NULL, execution_id INTEGER NOT NULL, execution_name TEXT NOT NULL,
        task_id TEXT NOT NULL, PRIMARY KEY (flow_name, key)) WITHOUT ROWID;
    CREATE INDEX task_keys_execution ON task_keys (execution_id, task_id);
    """
)

# telemetry: a message's user properties (MNS UserProperties), e.g. the traceparent of the task that sent it
MIGRATIONS.append(
    """
    ALTER TABLE messages ADD COLUMN properties TEXT;
    """
)

# limits: concurrency limits per flow (a cap on its Running executions, a fairness key, a start
# rate) and each execution's key; waiting executions are status 'Starting' until admitted
MIGRATIONS.append(
    """
    ALTER TABLE executions ADD COLUMN concurrency_key TEXT;
    CREATE TABLE IF NOT EXISTS flow_limits (
        flow_name TEXT PRIMARY KEY, max_running INTEGER, key_expr TEXT NOT NULL, starts_per_second REAL,
        tat REAL NOT NULL DEFAULT 0, last_key TEXT);
    CREATE INDEX IF NOT EXISTS executions_waiting ON executions (flow_name, concurrency_key, id)
        WHERE status = 'Starting';
    CREATE INDEX IF NOT EXISTS executions_limited ON executions (flow_name, concurrency_key)
        WHERE status = 'Running' AND concurrency_key IS NOT NULL;
    """
)
