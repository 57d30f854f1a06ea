/* sluice-job-store.c — batch job state in SQLite.
 *
 * A job's result is committed to the store first; only then is its line
 * appended to the output file. A kill at any instant therefore loses no
 * committed job, and --resume rewrites the output file from the store, so
 * no job appears twice.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-job-store"

#include "sluice-job-store-private.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static const char schema_sql[] =
  "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);"
  "CREATE TABLE IF NOT EXISTS jobs ("
  "  line INTEGER PRIMARY KEY,"
  "  line_hash INTEGER NOT NULL,"
  "  custom_id TEXT,"
  "  ok INTEGER NOT NULL,"
  "  result TEXT NOT NULL,"
  "  finished_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))"
  ");";

struct _SluiceJobStore
{
  int         lock_fd;      /* holds an exclusive flock for the batch's life */
  SluiceDb   *db;
  char       *state_path;
  FILE       *output;       /* written only by the db writer thread */
  GHashTable *done;         /* line → line hash (both as gint64 keys/values) */
};

typedef struct
{
  SluiceJobStore *store;
  gint64          line;
  gint64          hash;
  char           *custom_id;
  gboolean        ok;
  char           *result_line;
} Job;

guint64
sluice_job_store_hash_line (const char *line,
                            gsize       length)
{
  guint64 hash = 0xcbf29ce484222325ULL;

  for (gsize i = 0; i < length; i++)
    {
      hash ^= (guchar) line[i];
      hash *= 0x100000001b3ULL;
    }
  /* SQLite integers are signed 64-bit; keep the value positive. */
  return hash >> 1;
}

static gboolean
rewrite_output (SluiceJobStore  *self,
                const char      *output_path,
                gboolean         retry_failed,
                GError         **error)
{
  g_autoptr(JsonArray) rows = NULL;
  FILE *out;

  rows = sluice_db_query (self->state_path,
                          retry_failed ? "SELECT line, line_hash, result FROM jobs WHERE ok = 1 ORDER BY line"
                                       : "SELECT line, line_hash, result FROM jobs ORDER BY line",
                          error);
  if (rows == NULL)
    return FALSE;

  out = fopen (output_path, "w");
  if (out == NULL)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "%s: %s", output_path, g_strerror (errno));
      return FALSE;
    }

  for (guint i = 0; i < json_array_get_length (rows); i++)
    {
      JsonObject *row = json_array_get_object_element (rows, i);
      gint64 line = json_object_get_int_member (row, "line");
      gint64 hash = json_object_get_int_member (row, "line_hash");

      fputs (json_object_get_string_member (row, "result"), out);
      fputc ('\n', out);
      g_hash_table_insert (self->done, g_memdup2 (&line, sizeof line), g_memdup2 (&hash, sizeof hash));
    }

  if (fflush (out) != 0 || fsync (fileno (out)) != 0)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "%s: %s", output_path, g_strerror (errno));
      fclose (out);
      return FALSE;
    }
  self->output = out;
  return TRUE;
}

/* The output must not be the input or the pipeline (even through a link),
 * and must be a plain file: a batch truncates and rewrites it. */
static gboolean
check_output_path (const char  *output_path,
                   const char  *pipeline_path,
                   const char  *input_path,
                   GError     **error)
{
  const char *others[] = { input_path, pipeline_path };
  GStatBuf out, other;

  if (g_stat (output_path, &out) != 0)
    return TRUE;   /* not there yet */
  if (!S_ISREG (out.st_mode))
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                   "%s is not a regular file; the output must be one", output_path);
      return FALSE;
    }
  /* Standard input may be the output file itself (-o out < out). */
  if (g_strcmp0 (input_path, "-") == 0 && fstat (STDIN_FILENO, &other) == 0 &&
      other.st_dev == out.st_dev && other.st_ino == out.st_ino)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                   "the output %s is the file standard input reads; choose another output",
                   output_path);
      return FALSE;
    }
  for (guint i = 0; i < G_N_ELEMENTS (others); i++)
    if (others[i] != NULL && g_strcmp0 (others[i], "-") != 0 && g_stat (others[i], &other) == 0 &&
        other.st_dev == out.st_dev && other.st_ino == out.st_ino)
      {
        g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                     "the output %s is the same file as %s; choose another output",
                     output_path, others[i]);
        return FALSE;
      }
  return TRUE;
}

/* One batch at a time per output: a second one would run every job twice
 * and interleave the file. */
static int
lock_batch (const char  *state_path,
            const char  *output_path,
            GError     **error)
{
  g_autofree char *lock_path = g_strconcat (state_path, ".lock", NULL);
  int fd = g_open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

  if (fd < 0)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "%s: %s", lock_path, g_strerror (errno));
      return -1;
    }
  if (flock (fd, LOCK_EX | LOCK_NB) != 0)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                   "another sluice batch is writing %s (lock %s); wait for it or stop it first",
                   output_path, lock_path);
      close (fd);
      return -1;
    }
  return fd;
}

SluiceJobStore *
sluice_job_store_open (const char  *output_path,
                       const char  *pipeline_path,
                       const char  *input_path,
                       gboolean     resume,
                       gboolean     overwrite,
                       gboolean     retry_failed,
                       GError     **error)
{
  SluiceJobStore *self;
  g_autofree char *state_path = g_strconcat (output_path, ".sluice-state", NULL);
  gboolean state_exists, output_exists;
  int lock_fd;

  if (!check_output_path (output_path, pipeline_path, input_path, error))
    return NULL;
  lock_fd = lock_batch (state_path, output_path, error);
  if (lock_fd < 0)
    return NULL;

  state_exists = g_file_test (state_path, G_FILE_TEST_EXISTS);
  output_exists = g_file_test (output_path, G_FILE_TEST_EXISTS);
  if (resume && !state_exists && output_exists)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                   "%s exists but there is no batch state (%s) to resume; "
                   "pass --overwrite to replace it", output_path, state_path);
      close (lock_fd);
      return NULL;
    }

  if (!resume && (state_exists || output_exists))
    {
      if (!overwrite)
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                       "%s already exists: pass --resume to continue that batch, "
                       "or --overwrite to start again",
                       state_exists ? state_path : output_path);
          close (lock_fd);
          return NULL;
        }
      for (guint i = 0; i < 3; i++)
        {
          static const char * const suffixes[] = { "", "-wal", "-shm" };
          g_autofree char *file = g_strconcat (state_path, suffixes[i], NULL);
          g_unlink (file);
        }
      g_unlink (output_path);
    }

  self = g_new0 (SluiceJobStore, 1);
  self->lock_fd = lock_fd;
  self->state_path = g_steal_pointer (&state_path);
  self->done = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  self->db = sluice_db_open (self->state_path, schema_sql, error);
  if (self->db == NULL)
    {
      sluice_job_store_close (self);
      return NULL;
    }

  if (!rewrite_output (self, output_path, retry_failed, error))
    {
      sluice_job_store_close (self);
      return NULL;
    }

  return self;
}

guint
sluice_job_store_get_n_done (SluiceJobStore *self)
{
  return g_hash_table_size (self->done);
}

gboolean
sluice_job_store_is_done (SluiceJobStore *self,
                          guint64         line,
                          guint64         hash,
                          gboolean       *hash_matches)
{
  gint64 key = (gint64) line;
  gint64 *stored = g_hash_table_lookup (self->done, &key);

  if (stored == NULL)
    return FALSE;
  *hash_matches = *stored == (gint64) hash;
  return TRUE;
}

static void
job_free (Job *job)
{
  g_free (job->custom_id);
  g_free (job->result_line);
  g_free (job);
}

static gboolean
insert_job (sqlite3  *db,
            gpointer  data,
            GError  **error)
{
  Job *job = data;
  sqlite3_stmt *stmt;

  stmt = sluice_db_prepare (db, "INSERT OR REPLACE INTO jobs (line, line_hash, custom_id, ok, result) "
                                "VALUES (?, ?, ?, ?, ?)", error);
  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_int64 (stmt, 1, job->line);
  sqlite3_bind_int64 (stmt, 2, job->hash);
  sqlite3_bind_text (stmt, 3, job->custom_id, -1, SQLITE_STATIC);
  sqlite3_bind_int (stmt, 4, job->ok);
  sqlite3_bind_text (stmt, 5, job->result_line, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "job store: %s", sqlite3_errmsg (db));
      sqlite3_reset (stmt);
      return FALSE;
    }
  sqlite3_reset (stmt);
  return TRUE;
}

static void
append_line (gpointer data,
             gpointer unused)
{
  Job *job = data;

  fputs (job->result_line, job->store->output);
  fputc ('\n', job->store->output);
  fflush (job->store->output);
}

void
sluice_job_store_commit (SluiceJobStore *self,
                         guint64         line,
                         guint64         hash,
                         const char     *custom_id,
                         gboolean        ok,
                         char           *result_line)
{
  Job *job = g_new0 (Job, 1);

  job->store = self;
  job->line = (gint64) line;
  job->hash = (gint64) hash;
  job->custom_id = g_strdup (custom_id);
  job->ok = ok;
  job->result_line = result_line;
  sluice_db_enqueue (self->db, insert_job, append_line, job, (GDestroyNotify) job_free);
}

void
sluice_job_store_flush_async (SluiceJobStore      *self,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  sluice_db_flush_async (self->db, NULL, callback, user_data);
}

gboolean
sluice_job_store_flush_finish (SluiceJobStore  *self,
                               GAsyncResult    *result,
                               GError         **error)
{
  return sluice_db_flush_finish (self->db, result, error);
}

gboolean
sluice_job_store_has_failed (SluiceJobStore *self)
{
  return sluice_db_has_failed (self->db);
}

gint64
sluice_job_store_count_failed (SluiceJobStore *self)
{
  g_autoptr(JsonArray) rows = sluice_db_query (self->state_path,
                                               "SELECT count(*) AS n FROM jobs WHERE ok = 0", NULL);

  if (rows == NULL || json_array_get_length (rows) != 1)
    return -1;
  return json_object_get_int_member (json_array_get_object_element (rows, 0), "n");
}

const char *
sluice_job_store_get_path (SluiceJobStore *self)
{
  return self->state_path;
}

void
sluice_job_store_close (SluiceJobStore *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->db, sluice_db_close);
  if (self->output != NULL)
    fclose (self->output);
  g_clear_pointer (&self->done, g_hash_table_unref);
  if (self->lock_fd >= 0)
    close (self->lock_fd);   /* releases the flock */
  g_free (self->state_path);
  g_free (self);
}
