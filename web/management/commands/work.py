"""`manage.py work`: a background worker, as many as the load needs, on any machine that
reaches the database and the shared cache.

It runs the tasks of the database task backend (django-tasks-db's worker: version generation,
exports, the chores), and beside them, every `--sweep-every` seconds, hands on the work of
workers that stopped (`workspaces.background.sweep`) and enqueues the periodic chores that are
due (`web.chores`). SIGTERM or Ctrl-C lets the task at hand finish; SIGKILL loses nothing:
another worker takes the work over once its lease runs out."""

import logging
import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connection
from django.tasks import DEFAULT_TASK_BACKEND_ALIAS, DEFAULT_TASK_QUEUE_NAME
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker

from web import chores
from workspaces import background

logger = logging.getLogger(__name__)


def sweep_once() -> None:
    try:
        handed = background.sweep()
        due = chores.enqueue_due()
    except Exception:  # a database or cache outage: the next round tries again
        logger.exception("The sweep failed")
        return
    finally:
        close_old_connections()
    if handed:
        logger.warning("Handed on %s piece(s) of work whose worker stopped", handed)
    if due:
        logger.info("Enqueued the chores %s", ", ".join(due))


class Command(BaseCommand):
    help = "Run a background worker: tasks (versions, exports, chores) and the sweep."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between looks for a task when idle.")
        parser.add_argument("--sweep-every", type=float, default=5.0, help="Seconds between sweeps (default 5).")
        parser.add_argument("--batch", action="store_true", help="Sweep once, run every task waiting, then exit.")
        parser.add_argument("--worker-id", default="", help="A name unique in the pool (default: random).")

    def handle(self, *args, interval: float, sweep_every: float, batch: bool, worker_id: str, **options):
        if not 0 <= interval <= 3600:
            raise CommandError("--interval takes seconds from 0 to 3600.")
        if not 0 < sweep_every <= 3600:
            raise CommandError("--sweep-every takes seconds above 0, up to 3600.")
        if worker_id and not (len(worker_id) <= 64 and worker_id.isprintable() and worker_id.strip() == worker_id):
            raise CommandError("--worker-id takes up to 64 printable characters, without surrounding spaces.")
        worker = Worker(
            queue_names=[DEFAULT_TASK_QUEUE_NAME],
            interval=interval,
            batch=batch,
            backend_name=DEFAULT_TASK_BACKEND_ALIAS,
            startup_delay=not batch,
            max_tasks=None,
            worker_id=worker_id or get_random_string(32),
            excluded_queue_names=[],
        )
        if batch:
            sweep_once()
            worker.run()
            return
        stop = threading.Event()

        def sweeping() -> None:
            while not stop.wait(sweep_every):
                sweep_once()
            connection.close()

        threading.Thread(target=sweeping, name="sweep", daemon=True).start()
        worker.configure_signals()
        self.stdout.write(f"Worker {worker.worker_id} started; sweeping every {sweep_every:g} s.")
        try:
            worker.run()
        finally:
            stop.set()
