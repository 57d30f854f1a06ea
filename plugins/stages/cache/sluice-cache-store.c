/* sluice-cache-store.c — the cache's SQLite file.
 *
 * Lookups are on the request path, so they are one indexed read on a
 * connection of their own; in WAL mode a reader never waits for the
 * writer. Everything that writes (storing, touching an entry's last use,
 * evicting) is queued for the file's writer thread (SluiceDb), which
 * commits it in batches.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-cache-private.h"

/* How often the writer re-counts the entries rather than trusting its
 * running count (a batch rolled back and retried can skew it). */
#define RECOUNT_EVERY 1024

static const char schema_sql[] =
  "CREATE TABLE IF NOT EXISTS cache ("
  "  key TEXT PRIMARY KEY,"
  "  output TEXT NOT NULL,"
  "  created INTEGER NOT NULL,"      /* ms since the epoch: for the TTL */
  "  last_used INTEGER NOT NULL"     /* ms since the epoch: for LRU eviction */
  ");"
  "CREATE INDEX IF NOT EXISTS cache_last_used ON cache (last_used);"
  "CREATE INDEX IF NOT EXISTS cache_created ON cache (created);";

struct _CacheStore
{
  SluiceDb     *db;
  char         *path;
  sqlite3      *reader;
  sqlite3_stmt *select;
  GMutex        reader_lock;
  gint64        ttl_ms;
  gint64        max_entries;
  /* writer thread only */
  gint64        entries;      /* -1: not counted yet */
  guint         puts;
};

typedef struct
{
  CacheStore    *store;
  char          *key;
  char          *output;      /* NULL: touch the entry's last use only */
  gint64         now_ms;
  GDestroyNotify committed;
  gpointer       data;
} Write;

static gint64
now_ms (void)
{
  return g_get_real_time () / 1000;
}

static void
write_free (Write *write)
{
  if (write->committed != NULL)
    write->committed (write->data);
  g_free (write->key);
  g_free (write->output);
  g_free (write);
}

static gboolean
fail (sqlite3  *db,
      GError  **error)
{
  g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "cache: %s", sqlite3_errmsg (db));
  return FALSE;
}

/* Runs a prepared statement bound by the caller to its end. */
static gboolean
step_done (sqlite3       *db,
           sqlite3_stmt  *stmt,
           GError       **error)
{
  gboolean ok = sqlite3_step (stmt) == SQLITE_DONE;

  sqlite3_reset (stmt);
  return ok || fail (db, error);
}

static gboolean
count_entries (CacheStore  *self,
               sqlite3     *db,
               GError     **error)
{
  sqlite3_stmt *stmt = sluice_db_prepare (db, "SELECT count(*) FROM cache", error);

  if (stmt == NULL)
    return FALSE;
  if (sqlite3_step (stmt) != SQLITE_ROW)
    {
      sqlite3_reset (stmt);
      return fail (db, error);
    }
  self->entries = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);
  return TRUE;
}

static gboolean
store_entry (sqlite3  *db,
             gpointer  data,
             GError  **error)
{
  Write *write = data;
  CacheStore *self = write->store;
  sqlite3_stmt *stmt;
  gboolean existed;

  if ((self->entries < 0 || ++self->puts % RECOUNT_EVERY == 0) && !count_entries (self, db, error))
    return FALSE;

  /* Expired entries go first: they would never be served again. */
  stmt = sluice_db_prepare (db, "DELETE FROM cache WHERE created < ?", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, write->now_ms - self->ttl_ms);
  if (!step_done (db, stmt, error))
    return FALSE;
  self->entries -= sqlite3_changes (db);

  stmt = sluice_db_prepare (db, "SELECT 1 FROM cache WHERE key = ?", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, write->key, -1, SQLITE_STATIC);
  existed = sqlite3_step (stmt) == SQLITE_ROW;
  sqlite3_reset (stmt);

  stmt = sluice_db_prepare (db, "INSERT OR REPLACE INTO cache (key, output, created, last_used) "
                                "VALUES (?, ?, ?, ?)", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, write->key, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, write->output, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, write->now_ms);
  sqlite3_bind_int64 (stmt, 4, write->now_ms);
  if (!step_done (db, stmt, error))
    return FALSE;
  if (!existed)
    self->entries++;

  if (self->entries > self->max_entries)
    {
      stmt = sluice_db_prepare (db, "DELETE FROM cache WHERE key IN "
                                    "(SELECT key FROM cache ORDER BY last_used LIMIT ?)", error);
      if (stmt == NULL)
        return FALSE;
      sqlite3_bind_int64 (stmt, 1, self->entries - self->max_entries);
      if (!step_done (db, stmt, error))
        return FALSE;
      self->entries -= sqlite3_changes (db);
    }
  return TRUE;
}

static gboolean
touch_entry (sqlite3  *db,
             gpointer  data,
             GError  **error)
{
  Write *write = data;
  sqlite3_stmt *stmt = sluice_db_prepare (db, "UPDATE cache SET last_used = max(last_used, ?) WHERE key = ?",
                                          error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, write->now_ms);
  sqlite3_bind_text (stmt, 2, write->key, -1, SQLITE_STATIC);
  return step_done (db, stmt, error);
}

CacheStore *
cache_store_open (const char  *path,
                  gint64       ttl_ms,
                  gint64       max_entries,
                  GError     **error)
{
  CacheStore *self;
  SluiceDb *db = sluice_db_open (path, schema_sql, error);

  if (db == NULL)
    return NULL;
  self = g_new0 (CacheStore, 1);
  self->db = db;
  self->path = g_strdup (path);
  self->ttl_ms = ttl_ms;
  self->max_entries = max_entries;
  self->entries = -1;
  g_mutex_init (&self->reader_lock);

  if (sqlite3_open_v2 (path, &self->reader, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2 (self->reader, "SELECT output, created FROM cache WHERE key = ?", -1,
                          &self->select, NULL) != SQLITE_OK)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "%s: %s", path,
                   self->reader != NULL ? sqlite3_errmsg (self->reader) : "cannot open");
      cache_store_free (self);
      return NULL;
    }
  sqlite3_busy_timeout (self->reader, 1000);
  return self;
}

JsonNode *
cache_store_lookup (CacheStore  *self,
                    const char  *key,
                    GError     **error)
{
  g_autofree char *text = NULL;
  gint64 now = now_ms ();
  gint64 created = 0;
  int rc;

  g_mutex_lock (&self->reader_lock);
  sqlite3_bind_text (self->select, 1, key, -1, SQLITE_STATIC);
  rc = sqlite3_step (self->select);
  if (rc == SQLITE_ROW)
    {
      text = g_strdup ((const char *) sqlite3_column_text (self->select, 0));
      created = sqlite3_column_int64 (self->select, 1);
    }
  else if (rc != SQLITE_DONE)
    g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "cache %s: %s", self->path,
                 sqlite3_errmsg (self->reader));
  sqlite3_reset (self->select);
  sqlite3_clear_bindings (self->select);
  g_mutex_unlock (&self->reader_lock);

  if (text == NULL || created < now - self->ttl_ms)
    return NULL;   /* an expired entry is replaced when the fresh answer is stored */

  {
    Write *touch = g_new0 (Write, 1);

    touch->store = self;
    touch->key = g_strdup (key);
    touch->now_ms = now;
    sluice_db_enqueue (self->db, touch_entry, NULL, touch, (GDestroyNotify) write_free);
  }
  return sluice_json_from_string (text, -1, error);
}

void
cache_store_put (CacheStore     *self,
                 const char     *key,
                 JsonNode       *output,
                 GDestroyNotify  committed,
                 gpointer        data)
{
  Write *write = g_new0 (Write, 1);

  write->store = self;
  write->key = g_strdup (key);
  write->output = sluice_json_to_string (output);
  write->now_ms = now_ms ();
  write->committed = committed;
  write->data = data;
  sluice_db_enqueue (self->db, store_entry, NULL, write, (GDestroyNotify) write_free);
}

void
cache_store_flush_async (CacheStore          *self,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  sluice_db_flush_async (self->db, NULL, callback, user_data);
}

gboolean
cache_store_flush_finish (CacheStore    *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  return sluice_db_flush_finish (self->db, result, error);
}

void
cache_store_free (CacheStore *self)
{
  /* The writer first: closing commits what is queued, whose items point
   * at this store. */
  g_clear_pointer (&self->db, sluice_db_close);
  g_clear_pointer (&self->select, sqlite3_finalize);
  g_clear_pointer (&self->reader, sqlite3_close);
  g_mutex_clear (&self->reader_lock);
  g_free (self->path);
  g_free (self);
}
