/* sluice-db.c — an SQLite file owned by one writer thread.
 *
 * The main loop never waits on disk: work items are queued, and the
 * writer thread commits everything queued in one transaction.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-db"

#include "sluice.h"

#include <errno.h>

#define BATCH_RETRIES 4
#define BUSY_TIMEOUT_MS 5000
/* How long the writer lets work pile up before a transaction: one commit
 * for many items costs far less than one each, and nobody waits on it. */
#define GATHER_US 2000

/* Work items queued in every SluiceDb of the process, not yet done. */
static gint total_backlog;

/* Prepared statements of the writer thread's connection, by SQL text. */
static __thread GHashTable *statements;

typedef struct
{
  SluiceDbFunc   func;
  GFunc          after_commit;
  gpointer       data;
  GDestroyNotify destroy;
  GTask         *flush_task;
  gboolean       parked;     /* kept after a failure: no longer in total_backlog */
  gboolean       record;     /* the caller's work: spilled if it cannot be written */
} Item;

struct _SluiceDb
{
  sqlite3  *db;
  char     *path;
  GThread  *thread;
  GMutex    mutex;
  GCond     cond;
  GQueue    queue;      /* Item*, guarded by mutex */
  gboolean  closing;    /* guarded by mutex */
  GError   *error;      /* first failure since the last flush, guarded by mutex */
  gboolean  failed;     /* some work was lost, guarded by mutex */

  /* Keeping mode (sluice_db_open_keeping): what a transient failure does. */
  SluiceDbKeeping keeping;
  int       last_code;      /* SQLite result of the last failed batch; writer thread */
  gboolean  failing;        /* in a spell of failures; writer thread */
  guint     backoff_ms;     /* writer thread */
  guint     n_spilled;      /* writer thread */
  guint     n_lost;         /* writer thread: neither written nor spilled */
};

static gboolean
exec (sqlite3     *db,
      const char  *sql,
      GError     **error)
{
  char *message = NULL;

  if (sqlite3_exec (db, sql, NULL, NULL, &message) == SQLITE_OK)
    return TRUE;
  g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "sqlite: %s",
               message != NULL ? message : sqlite3_errmsg (db));
  sqlite3_free (message);
  return FALSE;
}

/* Runs the items' functions in one transaction. */
static gboolean
run_batch (SluiceDb  *self,
           Item     **items,
           guint      n_items,
           GError   **error)
{
  if (!exec (self->db, "BEGIN IMMEDIATE", error))
    {
      self->last_code = sqlite3_errcode (self->db);
      return FALSE;
    }

  for (guint i = 0; i < n_items; i++)
    if (items[i]->func != NULL && !items[i]->func (self->db, items[i]->data, error))
      {
        self->last_code = sqlite3_errcode (self->db);
        exec (self->db, "ROLLBACK", NULL);
        return FALSE;
      }

  if (!exec (self->db, "COMMIT", error))
    {
      self->last_code = sqlite3_errcode (self->db);
      exec (self->db, "ROLLBACK", NULL);
      return FALSE;
    }
  return TRUE;
}

static void
record_failure (SluiceDb *self,
                GError   *error)
{
  g_mutex_lock (&self->mutex);
  /* One warning per failure spell, not one per item of a full disk. */
  if (!self->failed)
    g_warning ("%s: %s", self->path, error->message);
  self->failed = TRUE;
  if (self->error == NULL)
    self->error = g_steal_pointer (&error);
  g_mutex_unlock (&self->mutex);
  g_clear_error (&error);
}

gboolean
sluice_db_has_failed (SluiceDb *self)
{
  gboolean failed;

  g_mutex_lock (&self->mutex);
  failed = self->failed;
  g_mutex_unlock (&self->mutex);
  return failed;
}

static void
finish_items (SluiceDb  *self,
              Item     **items,
              guint      n_items,
              gboolean  *committed)
{
  for (guint i = 0; i < n_items; i++)
    {
      Item *item = items[i];

      if (committed[i] && item->after_commit != NULL)
        item->after_commit (item->data, NULL);
    }

  for (guint i = 0; i < n_items; i++)
    {
      Item *item = items[i];

      if (item->destroy != NULL)
        item->destroy (item->data);
      if (item->flush_task != NULL)
        {
          GError *error;

          g_mutex_lock (&self->mutex);
          error = g_steal_pointer (&self->error);
          g_mutex_unlock (&self->mutex);
          if (error != NULL)
            g_task_return_error (item->flush_task, error);
          else
            g_task_return_boolean (item->flush_task, TRUE);
          g_object_unref (item->flush_task);
        }
      if (!item->parked)
        g_atomic_int_dec_and_test (&total_backlog);
      g_free (item);
    }
}

/* ---- keeping mode ---------------------------------------------------------- */

/* Failures that pass: another connection holding the lock, a full or
 * failing disk. Anything else is the item's own fault. */
static gboolean
is_transient (int code)
{
  switch (code & 0xff)
    {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
      return TRUE;
    default:
      return FALSE;
    }
}

static guint
count_records (Item **items,
               guint  n_items)
{
  guint n = 0;

  for (guint i = 0; i < n_items; i++)
    if (items[i]->record)
      n++;
  return n;
}

static void
spill_items (SluiceDb  *self,
             Item     **items,
             guint      n_items)
{
  for (guint i = 0; i < n_items; i++)
    if (items[i]->record)
      {
        if (self->keeping.spill (items[i]->data, self->keeping.user_data))
          self->n_spilled++;
        else
          self->n_lost++;
      }
}

/* Flushes do not wait on a database that another process holds: they are
 * answered now, with what is still waiting. */
static void
answer_flushes (SluiceDb     *self,
                Item        **items,
                guint         n_items,
                const GError *error,
                guint         n_waiting)
{
  for (guint i = 0; i < n_items; i++)
    if (items[i]->flush_task != NULL)
      {
        g_task_return_new_error (items[i]->flush_task, SLUICE_ERROR, SLUICE_ERROR_FAILED,
                                 "%s: %u records not written yet (%s): kept in memory and retried",
                                 self->path, n_waiting, error->message);
        g_clear_object (&items[i]->flush_task);
      }
}

static void
process_keeping (SluiceDb  *self,
                 Item     **items,
                 guint      n_items)
{
  g_autofree gboolean *committed = g_new0 (gboolean, n_items);
  g_autoptr(GError) error = NULL;
  gboolean closing;
  guint n_records;
  gint64 until;

  if (run_batch (self, items, n_items, &error))
    {
      for (guint i = 0; i < n_items; i++)
        committed[i] = TRUE;
      if (self->failing)
        g_message ("%s: written again; the records that waited are in it", self->path);
      self->failing = FALSE;
      self->backoff_ms = 0;
      finish_items (self, items, n_items, committed);
      return;
    }

  if (!is_transient (self->last_code))
    {
      /* One item may be at fault: commit item by item; one that fails on
       * its own is spilled, not dropped. */
      for (guint i = 0; i < n_items; i++)
        {
          g_autoptr(GError) item_error = NULL;

          committed[i] = items[i]->func == NULL || run_batch (self, &items[i], 1, &item_error);
          if (!committed[i])
            {
              g_warning ("%s: a record could not be written (%s); it goes to %s", self->path,
                         item_error->message, self->keeping.spill_name != NULL
                                              ? self->keeping.spill_name : "the file of unwritten records");
              spill_items (self, &items[i], 1);
            }
        }
      finish_items (self, items, n_items, committed);
      return;
    }

  n_records = count_records (items, n_items);
  if (!self->failing)
    {
      self->failing = TRUE;
      g_warning ("%s: cannot write (%s): records are kept in memory and retried; "
                 "none is lost, requests go on", self->path, error->message);
      if (self->keeping.failed != NULL)
        self->keeping.failed (error, self->keeping.user_data);
    }

  g_mutex_lock (&self->mutex);
  closing = self->closing;
  g_mutex_unlock (&self->mutex);
  answer_flushes (self, items, n_items, error, n_records);

  if (closing)
    {
      guint before = self->n_spilled, lost_before = self->n_lost;

      /* Nothing is dropped: what could not be written goes beside the file. */
      spill_items (self, items, n_items);
      if (self->n_spilled > before)
        g_warning ("%s: still cannot write (%s) at exit: %u records written to %s instead",
                   self->path, error->message, self->n_spilled - before,
                   self->keeping.spill_name != NULL ? self->keeping.spill_name : "the file of unwritten records");
      if (self->n_lost > lost_before)
        g_warning ("%s: still cannot write (%s) at exit, nor keep beside it: %u records lost",
                   self->path, error->message, self->n_lost - lost_before);
      finish_items (self, items, n_items, committed);
      return;
    }

  /* Back at the head of the queue, in order, to be tried again. */
  g_mutex_lock (&self->mutex);
  for (guint i = n_items; i > 0; i--)
    {
      Item *item = items[i - 1];

      if (item->flush_task == NULL && item->func == NULL)
        {
          /* an answered flush */
          if (!item->parked)
            g_atomic_int_dec_and_test (&total_backlog);
          g_free (item);
          continue;
        }
      if (!item->parked)
        {
          item->parked = TRUE;
          g_atomic_int_dec_and_test (&total_backlog);
        }
      g_queue_push_head (&self->queue, item);
    }
  self->backoff_ms = CLAMP (self->backoff_ms * 2, 100, 2000);
  until = g_get_monotonic_time () + self->backoff_ms * G_TIME_SPAN_MILLISECOND;
  while (!self->closing && g_get_monotonic_time () < until)
    g_cond_wait_until (&self->cond, &self->mutex, until);
  g_mutex_unlock (&self->mutex);
}

static void
process (SluiceDb  *self,
         Item     **items,
         guint      n_items)
{
  g_autofree gboolean *committed = NULL;
  g_autoptr(GError) error = NULL;

  if (self->keeping.spill != NULL)   /* opened with sluice_db_open_keeping() */
    {
      process_keeping (self, items, n_items);
      return;
    }
  committed = g_new0 (gboolean, n_items);

  for (guint attempt = 0; attempt <= BATCH_RETRIES; attempt++)
    {
      g_clear_error (&error);
      if (run_batch (self, items, n_items, &error))
        {
          for (guint i = 0; i < n_items; i++)
            committed[i] = TRUE;
          finish_items (self, items, n_items, committed);
          return;
        }
      /* Locked or full disks get better; wait a little and retry. */
      g_usleep ((attempt + 1) * 100 * 1000);
    }

  /* The batch keeps failing: commit item by item so one bad item cannot
   * take the others with it. */
  for (guint i = 0; i < n_items; i++)
    {
      g_autoptr(GError) item_error = NULL;

      if (items[i]->func == NULL)
        {
          committed[i] = TRUE;
          continue;
        }
      committed[i] = run_batch (self, &items[i], 1, &item_error);
      if (!committed[i])
        record_failure (self, g_steal_pointer (&item_error));
    }
  finish_items (self, items, n_items, committed);
}

static void
finalize_statement (gpointer stmt)
{
  sqlite3_finalize (stmt);
}

sqlite3_stmt *
sluice_db_prepare (sqlite3     *db,
                   const char  *sql,
                   GError     **error)
{
  sqlite3_stmt *stmt;

  if (statements == NULL)
    statements = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        finalize_statement);

  stmt = g_hash_table_lookup (statements, sql);
  if (stmt != NULL)
    {
      g_assert (sqlite3_db_handle (stmt) == db);
      sqlite3_reset (stmt);
      sqlite3_clear_bindings (stmt);
      return stmt;
    }

  if (sqlite3_prepare_v3 (db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "sqlite: %s", sqlite3_errmsg (db));
      sqlite3_finalize (stmt);
      return NULL;
    }
  g_hash_table_insert (statements, g_strdup (sql), stmt);
  return stmt;
}

static gpointer
writer_thread (gpointer user_data)
{
  SluiceDb *self = user_data;

  for (;;)
    {
      g_autofree Item **items = NULL;
      guint n_items;

      g_mutex_lock (&self->mutex);
      while (g_queue_is_empty (&self->queue) && !self->closing)
        g_cond_wait (&self->cond, &self->mutex);
      if (g_queue_is_empty (&self->queue) && self->closing)
        {
          g_mutex_unlock (&self->mutex);
          break;
        }
      if (!self->closing)
        {
          g_mutex_unlock (&self->mutex);
          g_usleep (GATHER_US);
          g_mutex_lock (&self->mutex);
        }
      n_items = self->queue.length;
      items = g_new (Item *, n_items);
      for (guint i = 0; i < n_items; i++)
        items[i] = g_queue_pop_head (&self->queue);
      g_mutex_unlock (&self->mutex);

      process (self, items, n_items);
    }

  g_clear_pointer (&statements, g_hash_table_unref);
  return NULL;
}

/* The file, created with its folder, waiting @busy_timeout_ms for locks. */
static sqlite3 *
open_file (const char  *path,
           guint        busy_timeout_ms,
           GError     **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  sqlite3 *db = NULL;

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED,
                   "%s: cannot create folder: %s", dir, g_strerror (errno));
      return NULL;
    }

  if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                       NULL) != SQLITE_OK)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "%s: %s", path,
                   db != NULL ? sqlite3_errmsg (db) : "cannot open");
      sqlite3_close (db);
      return NULL;
    }
  sqlite3_busy_timeout (db, busy_timeout_ms > 0 ? (int) busy_timeout_ms : BUSY_TIMEOUT_MS);
  return db;
}

static gboolean
run_schema (sqlite3     *db,
            const char  *schema_sql,
            GError     **error)
{
  return exec (db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", error) &&
         (schema_sql == NULL || exec (db, schema_sql, error));
}

/* Takes @db; @keeping may be NULL. */
static SluiceDb *
start (sqlite3               *db,
       const char            *path,
       const SluiceDbKeeping *keeping)
{
  SluiceDb *self = g_new0 (SluiceDb, 1);

  self->db = db;
  self->path = g_strdup (path);
  if (keeping != NULL)
    self->keeping = *keeping;
  g_mutex_init (&self->mutex);
  g_cond_init (&self->cond);
  g_queue_init (&self->queue);
  self->thread = g_thread_new ("sluice-db", writer_thread, self);
  return self;
}

SluiceDb *
sluice_db_open (const char  *path,
                const char  *schema_sql,
                GError     **error)
{
  sqlite3 *db = open_file (path, 0, error);

  if (db == NULL)
    return NULL;
  if (!run_schema (db, schema_sql, error))
    {
      g_prefix_error (error, "%s: ", path);
      sqlite3_close (db);
      return NULL;
    }
  return start (db, path, NULL);
}

static gboolean
is_busy (sqlite3 *db)
{
  int code = sqlite3_errcode (db) & 0xff;

  return code == SQLITE_BUSY || code == SQLITE_LOCKED;
}

static gboolean
run_deferred_schema (sqlite3   *db,
                     gpointer   schema_sql,
                     GError   **error)
{
  return exec (db, schema_sql, error);
}

static void push (SluiceDb *self,
                  Item     *item);

SluiceDb *
sluice_db_open_keeping (const char             *path,
                        const char             *schema_sql,
                        const SluiceDbKeeping  *keeping,
                        GError                **error)
{
  g_autoptr(GError) local_error = NULL;
  SluiceDb *self;
  sqlite3 *db;
  gboolean deferred = FALSE;

  g_return_val_if_fail (keeping != NULL && keeping->spill != NULL, NULL);

  db = open_file (path, keeping->busy_timeout_ms, error);
  if (db == NULL)
    return NULL;
  /* Another process holding the file at start is a failure that passes:
   * the schema waits in the queue like the records do. */
  if (!run_schema (db, schema_sql, &local_error))
    {
      if (!is_busy (db))
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "%s: %s", path, local_error->message);
          sqlite3_close (db);
          return NULL;
        }
      deferred = TRUE;
    }

  self = start (db, path, keeping);
  if (deferred && schema_sql != NULL)
    {
      Item *item = g_new0 (Item, 1);   /* not a record: never spilled */

      item->func = run_deferred_schema;
      item->data = (gpointer) schema_sql;
      push (self, item);
    }
  return self;
}

static void
push (SluiceDb *self,
      Item     *item)
{
  g_atomic_int_inc (&total_backlog);
  g_mutex_lock (&self->mutex);
  g_queue_push_tail (&self->queue, item);
  /* The writer only sleeps on an empty queue: wake it once, not per item. */
  if (self->queue.length == 1)
    g_cond_signal (&self->cond);
  g_mutex_unlock (&self->mutex);
}

void
sluice_db_enqueue (SluiceDb       *self,
                   SluiceDbFunc    func,
                   GFunc           after_commit,
                   gpointer        data,
                   GDestroyNotify  destroy)
{
  Item *item;

  g_return_if_fail (self != NULL);

  item = g_new0 (Item, 1);
  item->func = func;
  item->after_commit = after_commit;
  item->data = data;
  item->destroy = destroy;
  item->record = func != NULL && data != NULL;
  push (self, item);
}

void
sluice_db_flush_async (SluiceDb            *self,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data)
{
  Item *item;

  g_return_if_fail (self != NULL);

  item = g_new0 (Item, 1);
  item->flush_task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (item->flush_task, sluice_db_flush_async);
  push (self, item);
}

gboolean
sluice_db_flush_finish (SluiceDb      *self,
                        GAsyncResult  *result,
                        GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
sluice_db_close (SluiceDb *self)
{
  if (self == NULL)
    return;

  g_mutex_lock (&self->mutex);
  self->closing = TRUE;
  g_cond_signal (&self->cond);
  g_mutex_unlock (&self->mutex);
  g_thread_join (self->thread);

  sqlite3_close (self->db);
  g_clear_error (&self->error);
  g_mutex_clear (&self->mutex);
  g_cond_clear (&self->cond);
  g_free (self->path);
  g_free (self);
}

guint
sluice_db_get_backlog (void)
{
  return (guint) g_atomic_int_get (&total_backlog);
}

JsonArray *
sluice_db_query (const char  *path,
                 const char  *sql,
                 GError     **error)
{
  g_autoptr(JsonArray) rows = NULL;
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "%s: %s", path,
                   db != NULL ? sqlite3_errmsg (db) : "cannot open");
      sqlite3_close (db);
      return NULL;
    }
  sqlite3_busy_timeout (db, BUSY_TIMEOUT_MS);

  if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "%s: %s", path, sqlite3_errmsg (db));
      sqlite3_close (db);
      return NULL;
    }

  rows = json_array_new ();
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      JsonObject *row = json_object_new ();
      int n = sqlite3_column_count (stmt);

      for (int i = 0; i < n; i++)
        {
          const char *name = sqlite3_column_name (stmt, i);

          switch (sqlite3_column_type (stmt, i))
            {
            case SQLITE_INTEGER:
              json_object_set_int_member (row, name, sqlite3_column_int64 (stmt, i));
              break;
            case SQLITE_FLOAT:
              json_object_set_double_member (row, name, sqlite3_column_double (stmt, i));
              break;
            case SQLITE_NULL:
              json_object_set_null_member (row, name);
              break;
            default:
              json_object_set_string_member (row, name, (const char *) sqlite3_column_text (stmt, i));
              break;
            }
        }
      json_array_add_object_element (rows, row);
    }

  if (rc != SQLITE_DONE)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "%s: %s", path, sqlite3_errmsg (db));
      g_clear_pointer (&rows, json_array_unref);
    }
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return g_steal_pointer (&rows);
}
