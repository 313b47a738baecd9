"""Everything both stores do with the same SQL, as one base class: ``SQLiteStore`` and
``PostgresStore`` add only what differs (connections, migrations, claims, the batched commit,
wake-ups) and set ``SqlStore``'s dialect hooks."""

from __future__ import annotations

from stateway.store._sql_admission import AdmissionMixin
from stateway.store._sql_callbacks import CallbacksMixin
from stateway.store._sql_console_reads import HistorySearchMixin, MapRunPagesMixin
from stateway.store._sql_dispatches import DispatchesMixin
from stateway.store._sql_executions import ExecutionsMixin
from stateway.store._sql_flows import FlowsMixin
from stateway.store._sql_history import HistoryMixin
from stateway.store._sql_invocations import InvocationsMixin
from stateway.store._sql_maprun import MapRunsMixin
from stateway.store._sql_nonces import NoncesMixin
from stateway.store._sql_ops import OpsMixin
from stateway.store._sql_queues import QueuesMixin
from stateway.store._sql_schedules import SchedulesMixin
from stateway.store._sql_secret import SecretMixin
from stateway.store._sql_sessions import SessionsMixin
from stateway.store._sql_status import StatusMixin
from stateway.store._sql_tasks import TasksMixin
from stateway.store._sql_work import WorkMixin


class SharedSql(FlowsMixin, ExecutionsMixin, WorkMixin, TasksMixin, HistoryMixin, InvocationsMixin, SchedulesMixin,
                QueuesMixin, MapRunsMixin, MapRunPagesMixin, HistorySearchMixin, NoncesMixin, StatusMixin,
                SecretMixin, SessionsMixin, DispatchesMixin, OpsMixin, CallbacksMixin, AdmissionMixin):
    pass
