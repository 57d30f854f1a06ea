/* sluice-db.h — an SQLite database owned by its own writer thread.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (SLUICE_INSIDE) && !defined (SLUICE_COMPILATION)
# error "Only <sluice.h> can be included directly."
#endif

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <sqlite3.h>

G_BEGIN_DECLS

typedef struct _SluiceDb SluiceDb;

/**
 * SluiceDbFunc:
 * @db: the connection, on the writer thread, inside a transaction
 * @data: the work item's data
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success; %FALSE rolls back the whole batch, which is
 *   retried
 */
typedef gboolean (*SluiceDbFunc) (sqlite3  *db,
                                  gpointer  data,
                                  GError  **error);

/**
 * sluice_db_open: (skip)
 * @path: the database file (created if missing)
 * @schema_sql: SQL run once at open (CREATE TABLE IF NOT EXISTS ...)
 * @error: return location for a #GError
 *
 * Opens the file in WAL mode and starts its writer thread. Work items
 * are committed in batches: one transaction for everything queued.
 *
 * Returns: (transfer full) (nullable): the database
 */
SluiceDb *sluice_db_open          (const char           *path,
                                   const char           *schema_sql,
                                   GError              **error);
/**
 * SluiceDbKeeping: (skip)
 * @busy_timeout_ms: how long one write waits for another connection's
 *   lock before it counts as failed (0: 5 s)
 * @failed: (nullable): called on the writer thread when a spell of
 *   failures starts (after the warning is logged)
 * @spill: called on the writer thread with the data of an item that can
 *   never be written: one that fails on its own, or any still failing when
 *   the database is closed; returns %FALSE when it could not keep it either
 * @user_data: data for @failed and @spill
 * @spill_name: (nullable): where @spill puts items, for messages
 *
 * What sluice_db_open_keeping() does with work that cannot be committed.
 */
typedef struct
{
  guint    busy_timeout_ms;
  void   (*failed) (const GError *error, gpointer user_data);
  gboolean (*spill) (gpointer data, gpointer user_data);
  gpointer user_data;
  const char *spill_name;
} SluiceDbKeeping;

/**
 * sluice_db_open_keeping: (skip)
 * @path: the database file (created if missing)
 * @schema_sql: SQL run at open (CREATE TABLE IF NOT EXISTS ...)
 * @keeping: what to do with work that cannot be committed
 * @error: return location for a #GError
 *
 * Like sluice_db_open(), for records that must never be lost: when a
 * batch fails for a reason that passes (another connection holds the
 * lock past the busy timeout, the disk is full or failing), its items are
 * kept, in order, and retried with a growing pause (0.1 s to 2 s); the
 * first failure of a spell is logged once; a flush is answered at once
 * with how many records wait instead of waiting on the lock; at close,
 * items that still cannot be written go to @keeping's spill function. A
 * database locked at open is not an error: the schema waits in the queue.
 * Kept items do not count in sluice_db_get_backlog().
 *
 * Returns: (transfer full) (nullable): the database
 */
SluiceDb *sluice_db_open_keeping  (const char             *path,
                                   const char             *schema_sql,
                                   const SluiceDbKeeping  *keeping,
                                   GError                **error);
/**
 * sluice_db_enqueue: (skip)
 * @self: a #SluiceDb
 * @func: run on the writer thread inside the batch's transaction
 * @after_commit: (nullable): run on the writer thread once the batch is
 *   committed (e.g. to append the committed lines to a file)
 * @data: data for both
 * @destroy: (nullable): frees @data after the batch is done
 */
void      sluice_db_enqueue       (SluiceDb             *self,
                                   SluiceDbFunc          func,
                                   GFunc                 after_commit,
                                   gpointer              data,
                                   GDestroyNotify        destroy);
/**
 * sluice_db_prepare: (skip)
 * @db: the connection passed to a #SluiceDbFunc
 * @sql: a statement, usually a string constant
 * @error: return location for a #GError
 *
 * Prepares @sql once per writer thread and hands back the same statement,
 * reset and with its bindings cleared, on later calls. Do not finalize it.
 *
 * Returns: (transfer none) (nullable): the statement
 */
sqlite3_stmt *sluice_db_prepare   (sqlite3              *db,
                                   const char           *sql,
                                   GError              **error);

/**
 * sluice_db_flush_async: (skip)
 * @self: a #SluiceDb
 * @cancellable: (nullable): a #GCancellable
 * @callback: called on the caller's main context once everything enqueued
 *   before has been committed (or has failed for good)
 * @user_data: data for @callback
 */
void      sluice_db_flush_async   (SluiceDb             *self,
                                   GCancellable         *cancellable,
                                   GAsyncReadyCallback   callback,
                                   gpointer              user_data);
/**
 * sluice_db_flush_finish: (skip)
 * @self: a #SluiceDb
 * @result: the #GAsyncResult
 * @error: the first failure since the last flush, if any
 *
 * Returns: %TRUE if everything was committed
 */
gboolean  sluice_db_flush_finish  (SluiceDb             *self,
                                   GAsyncResult         *result,
                                   GError              **error);
/**
 * sluice_db_has_failed: (skip)
 * @self: a #SluiceDb
 *
 * Returns: %TRUE once some work could not be committed even item by item
 *   (a full disk, say): producers should stop adding to it
 */
gboolean  sluice_db_has_failed    (SluiceDb             *self);

/**
 * sluice_db_close: (skip)
 * @self: (transfer full): a #SluiceDb
 *
 * Commits what is queued, stops the thread and closes the file.
 */
void      sluice_db_close         (SluiceDb             *self);

/**
 * sluice_db_get_backlog: (skip)
 *
 * Producers use it to slow down when the writers fall behind, so that
 * memory does not grow with the amount of work queued.
 *
 * Returns: work items queued in every #SluiceDb of the process and not
 *   yet committed
 */
guint     sluice_db_get_backlog   (void);

/**
 * sluice_db_query: (skip)
 * @path: a database file
 * @sql: a query
 * @error: return location for a #GError
 *
 * Runs a read-only query on a separate connection, synchronously (for
 * start-up, reports and tests, not for the request path).
 *
 * Returns: (transfer full) (nullable): the rows, each a JSON object
 */
JsonArray *sluice_db_query        (const char           *path,
                                    const char          *sql,
                                    GError             **error);

G_END_DECLS
