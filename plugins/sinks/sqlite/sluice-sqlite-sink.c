/* sluice-sqlite-sink.c — the SQLite cost ledger.
 *
 * Records are copied into plain rows on the main thread and written by
 * the database's own thread in batched transactions (SluiceDb), so the
 * request path never waits on disk.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-sqlite-sink.h"

#include <errno.h>
#include <stdio.h>

static const char schema_sql[] =
  "CREATE TABLE IF NOT EXISTS attempts ("
  "  id INTEGER PRIMARY KEY,"
  "  time TEXT NOT NULL,"
  "  request_id TEXT NOT NULL,"
  "  job_id TEXT,"
  "  pipeline TEXT,"
  "  attempt INTEGER,"
  "  provider TEXT,"
  "  model TEXT,"
  "  outcome TEXT NOT NULL,"
  "  error_kind TEXT,"
  "  http_status INTEGER,"
  "  prompt_tokens INTEGER,"
  "  completion_tokens INTEGER,"
  "  cost_usd REAL,"
  "  latency_ms INTEGER,"
  "  delay_ms INTEGER,"
  "  labels TEXT"
  ");"
  "CREATE INDEX IF NOT EXISTS attempts_time ON attempts (time);"
  "CREATE INDEX IF NOT EXISTS attempts_request ON attempts (request_id);"
  "CREATE TABLE IF NOT EXISTS requests ("
  "  request_id TEXT PRIMARY KEY,"
  "  time TEXT NOT NULL,"
  "  job_id TEXT,"
  "  pipeline TEXT,"
  "  outcome TEXT NOT NULL,"
  "  error_kind TEXT,"
  "  error_stage TEXT,"
  "  attempts INTEGER NOT NULL,"
  "  prompt_tokens INTEGER,"
  "  completion_tokens INTEGER,"
  "  cost_usd REAL,"
  "  latency_ms INTEGER,"
  "  labels TEXT"
  ");"
  "CREATE INDEX IF NOT EXISTS requests_time ON requests (time);"
  "CREATE INDEX IF NOT EXISTS requests_job ON requests (job_id);"
  /* breaker transitions, budget refusals, this sink's own failures */
  "CREATE TABLE IF NOT EXISTS events ("
  "  id INTEGER PRIMARY KEY,"
  "  time TEXT NOT NULL,"
  "  event TEXT NOT NULL,"
  "  target TEXT,"
  "  pipeline TEXT,"
  "  request_id TEXT,"
  "  detail TEXT,"
  "  labels TEXT"
  ");"
  "CREATE INDEX IF NOT EXISTS events_time ON events (time);";

struct _SluiceSqliteSink
{
  GObject   parent_instance;

  SluiceDb *db;
  char     *spill_path;   /* LEDGER.unwritten.jsonl */
  guint     n_lost;       /* records neither the ledger nor the spill file took */
};

static void sluice_sqlite_sink_iface_init (SluiceCostSinkInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceSqliteSink, sluice_sqlite_sink, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_COST_SINK, sluice_sqlite_sink_iface_init))

/* Column values of one row, copied off the JSON record. */
typedef enum { ROW_ATTEMPT, ROW_REQUEST, ROW_EVENT } RowKind;

typedef struct
{
  RowKind    kind;
  GPtrArray *values;    /* GVariant* or NULL for SQL NULL, in column order */
  char      *json;      /* the record, for the file of unwritten records */
} Row;

static const char * const attempt_columns[] = {
  "time", "request_id", "job_id", "pipeline", "attempt", "provider", "model", "outcome",
  "error_kind", "http_status", "prompt_tokens", "completion_tokens", "cost_usd",
  "latency_ms", "delay_ms", "labels",
  "retryable", "finish_reason", "cached_tokens", "cache_write_tokens", "reasoning_tokens",
  "usage_estimated", "streamed", "ttft_ms", "provider_request_id",
  "target", "target_index", "wasted", "hedge", "structured_output", "parsed_from", "repairs", NULL
};

/* Columns added after the first release: a ledger written by an older
 * sluice gains them when it is opened (older rows hold NULL). */
static const struct { const char *table; const char *name; const char *type; } added_columns[] = {
  { "attempts", "retryable", "INTEGER" }, { "attempts", "finish_reason", "TEXT" },
  { "attempts", "cached_tokens", "INTEGER" }, { "attempts", "cache_write_tokens", "INTEGER" },
  { "attempts", "reasoning_tokens", "INTEGER" }, { "attempts", "usage_estimated", "INTEGER" },
  { "attempts", "streamed", "INTEGER" }, { "attempts", "ttft_ms", "REAL" },
  { "attempts", "provider_request_id", "TEXT" },
  { "attempts", "target", "TEXT" }, { "attempts", "target_index", "INTEGER" },
  { "attempts", "wasted", "INTEGER" }, { "attempts", "hedge", "INTEGER" },
  /* how the answer's shape was asked for; where parse found the JSON and
   * the repairs it made (a JSON array; NULL: a clean answer) */
  { "attempts", "structured_output", "TEXT" }, { "attempts", "parsed_from", "TEXT" },
  { "attempts", "repairs", "TEXT" },
  /* format compliance: valid_first_try, valid_after_correction, invalid
   * or NULL (nothing checked), and the target of the final answer */
  { "requests", "compliance", "TEXT" }, { "requests", "target", "TEXT" },
  /* the sanitize stage's notes: {"email": 2, ...} and ["ignore_previous", ...] */
  { "requests", "redactions", "TEXT" }, { "requests", "injection_suspected", "TEXT" },
  /* the cache stage: 1 answered from the cache, 0 looked up and missed,
   * NULL not looked up (no cache stage, or bypassed) */
  { "requests", "cache_hit", "INTEGER" },
};

static gboolean
add_missing_columns (sqlite3  *db,
                     gpointer  data,
                     GError  **error)
{
  for (guint i = 0; i < G_N_ELEMENTS (added_columns); i++)
    {
      g_autofree char *probe = g_strdup_printf ("SELECT count(*) FROM pragma_table_info('%s') "
                                                "WHERE name = '%s'", added_columns[i].table,
                                                added_columns[i].name);
      g_autofree char *alter = g_strdup_printf ("ALTER TABLE %s ADD COLUMN %s %s",
                                                added_columns[i].table, added_columns[i].name,
                                                added_columns[i].type);
      sqlite3_stmt *stmt = NULL;
      gboolean present;

      if (sqlite3_prepare_v2 (db, probe, -1, &stmt, NULL) != SQLITE_OK || sqlite3_step (stmt) != SQLITE_ROW)
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "ledger: %s", sqlite3_errmsg (db));
          sqlite3_finalize (stmt);
          return FALSE;
        }
      present = sqlite3_column_int (stmt, 0) > 0;
      sqlite3_finalize (stmt);
      if (!present && sqlite3_exec (db, alter, NULL, NULL, NULL) != SQLITE_OK)
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "ledger: %s", sqlite3_errmsg (db));
          return FALSE;
        }
    }
  return TRUE;
}
static const char * const request_columns[] = {
  "time", "request_id", "job_id", "pipeline", "outcome", "error_kind", "error_stage",
  "attempts", "prompt_tokens", "completion_tokens", "cost_usd", "latency_ms", "labels",
  "compliance", "target", "redactions", "injection_suspected", "cache_hit", NULL
};

static const char * const event_columns[] = {
  "time", "event", "target", "pipeline", "request_id", "detail", "labels", NULL
};

static void
variant_unref0 (gpointer value)
{
  if (value != NULL)
    g_variant_unref (value);
}

static void
row_free (Row *row)
{
  g_ptr_array_unref (row->values);
  g_free (row->json);
  g_free (row);
}

static GVariant *
value_of (JsonObject *record,
          const char *column)
{
  /* attempts carry "index" and "started_at"; the ledger names them by role */
  const char *member = column;
  JsonNode *node;

  if (g_str_equal (column, "attempt"))
    member = "index";
  else if (g_str_equal (column, "time") && json_object_has_member (record, "started_at"))
    member = "started_at";

  node = json_object_get_member (record, member);
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return NULL;
  if (JSON_NODE_HOLDS_OBJECT (node) || JSON_NODE_HOLDS_ARRAY (node))
    {
      g_autofree char *json = sluice_json_to_string (node);
      return g_variant_ref_sink (g_variant_new_string (json));
    }
  switch (json_node_get_value_type (node))
    {
    case G_TYPE_INT64:
      return g_variant_ref_sink (g_variant_new_int64 (json_node_get_int (node)));
    case G_TYPE_DOUBLE:
      return g_variant_ref_sink (g_variant_new_double (json_node_get_double (node)));
    case G_TYPE_BOOLEAN:
      return g_variant_ref_sink (g_variant_new_int64 (json_node_get_boolean (node)));
    default:
      return g_variant_ref_sink (g_variant_new_string (json_node_get_string (node)));
    }
}

/* "INSERT INTO table (a, b) VALUES (?, ?)" for a NULL-terminated column list. */
static char *
build_insert (const char         *verb,
              const char * const *columns)
{
  GString *sql = g_string_new (verb);

  for (guint i = 0; columns[i] != NULL; i++)
    g_string_append_printf (sql, "%s%s", i > 0 ? ", " : " (", columns[i]);
  g_string_append (sql, ") VALUES (");
  for (guint i = 0; columns[i] != NULL; i++)
    g_string_append (sql, i > 0 ? ", ?" : "?");
  g_string_append (sql, ")");
  return g_string_free (sql, FALSE);
}

static gboolean
insert_row (sqlite3  *db,
            gpointer  data,
            GError  **error)
{
  static char *insert_attempt, *insert_request, *insert_event;
  Row *row = data;
  sqlite3_stmt *stmt;
  const char *sql;

  if (g_once_init_enter (&insert_attempt))
    g_once_init_leave (&insert_attempt, build_insert ("INSERT INTO attempts", attempt_columns));
  if (g_once_init_enter (&insert_request))
    g_once_init_leave (&insert_request, build_insert ("INSERT OR REPLACE INTO requests", request_columns));
  if (g_once_init_enter (&insert_event))
    g_once_init_leave (&insert_event, build_insert ("INSERT INTO events", event_columns));

  sql = row->kind == ROW_REQUEST ? insert_request : row->kind == ROW_EVENT ? insert_event : insert_attempt;
  stmt = sluice_db_prepare (db, sql, error);
  if (stmt == NULL)
    return FALSE;

  for (guint i = 0; i < row->values->len; i++)
    {
      GVariant *value = g_ptr_array_index (row->values, i);
      int column = (int) i + 1;

      if (value == NULL)
        sqlite3_bind_null (stmt, column);
      else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT64))
        sqlite3_bind_int64 (stmt, column, g_variant_get_int64 (value));
      else if (g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE))
        sqlite3_bind_double (stmt, column, g_variant_get_double (value));
      else
        sqlite3_bind_text (stmt, column, g_variant_get_string (value, NULL), -1, SQLITE_STATIC);
    }

  if (sqlite3_step (stmt) != SQLITE_DONE)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "ledger: %s", sqlite3_errmsg (db));
      sqlite3_reset (stmt);
      return FALSE;
    }
  sqlite3_reset (stmt);
  return TRUE;
}

static Row *
row_new (JsonObject *record)
{
  const char *type = sluice_json_get_string (record, "type");
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), record);
  Row *row = g_new0 (Row, 1);
  const char * const *columns;

  row->kind = g_strcmp0 (type, "request") == 0 ? ROW_REQUEST
            : g_strcmp0 (type, "event") == 0 ? ROW_EVENT : ROW_ATTEMPT;
  row->values = g_ptr_array_new_with_free_func (variant_unref0);
  columns = row->kind == ROW_REQUEST ? request_columns
          : row->kind == ROW_EVENT ? event_columns : attempt_columns;
  for (guint i = 0; columns[i] != NULL; i++)
    g_ptr_array_add (row->values, value_of (record, columns[i]));
  row->json = sluice_json_to_string (node);
  return row;
}

static void
sluice_sqlite_sink_record (SluiceCostSink *sink,
                           JsonObject     *record)
{
  SluiceSqliteSink *self = SLUICE_SQLITE_SINK (sink);

  g_return_if_fail (self->db != NULL);

  sluice_db_enqueue (self->db, insert_row, NULL, row_new (record), (GDestroyNotify) row_free);
}

/* Writer thread: a record the ledger could not take, one JSON line in a
 * file beside it, so that it is never lost silently. */
static gboolean
spill_row (gpointer data,
           gpointer user_data)
{
  SluiceSqliteSink *self = user_data;
  Row *row = data;
  g_autofree char *line = g_strconcat (row->json, "\n", NULL);
  g_autoptr(GError) error = NULL;

  if (sluice_append_file (self->spill_path, line, -1, &error))
    return TRUE;
  /* Said once, not once per record (a full disk refuses them all). */
  if (self->n_lost++ == 0)
    g_printerr ("sluice: %s: cannot keep unwritten ledger records either (%s); they are lost\n",
                self->spill_path, error->message);
  return FALSE;
}

/* Writer thread: the ledger fails; a sink_failure event waits with the
 * records and is written when they are. */
static void
on_db_failed (const GError *error,
              gpointer      user_data)
{
  SluiceSqliteSink *self = user_data;
  g_autoptr(JsonObject) record = json_object_new ();
  g_autoptr(JsonObject) detail = json_object_new ();
  g_autofree char *now = sluice_now_iso8601 ();

  json_object_set_string_member (detail, "sink", "sqlite");
  json_object_set_string_member (detail, "error", error->message);
  json_object_set_string_member (record, "type", "event");
  json_object_set_string_member (record, "time", now);
  json_object_set_string_member (record, "event", "sink_failure");
  json_object_set_object_member (record, "detail", g_steal_pointer (&detail));
  sluice_db_enqueue (self->db, insert_row, NULL, row_new (record), (GDestroyNotify) row_free);
}

static gboolean
sluice_sqlite_sink_configure (SluiceCostSink  *sink,
                              JsonObject      *config,
                              GError         **error)
{
  SluiceSqliteSink *self = SLUICE_SQLITE_SINK (sink);
  const char *path = sluice_json_get_string (config, "path");
  g_autofree char *default_path = NULL;
  SluiceDbKeeping keeping = { 0 };

  if (path == NULL)
    path = default_path = sluice_get_default_ledger_path ();

  keeping.busy_timeout_ms = (guint) sluice_json_get_int (config, "busy_timeout_ms", 0);
  keeping.failed = on_db_failed;
  keeping.spill = spill_row;
  keeping.user_data = self;
  self->spill_path = g_strconcat (path, ".unwritten.jsonl", NULL);
  keeping.spill_name = self->spill_path;
  self->db = sluice_db_open_keeping (path, schema_sql, &keeping, error);
  if (self->db == NULL)
    return FALSE;
  /* Queued first: every insert comes after it. */
  sluice_db_enqueue (self->db, add_missing_columns, NULL, NULL, NULL);
  return TRUE;
}

static void
on_db_flushed (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  SluiceSqliteSink *self = g_task_get_source_object (task);
  GError *error = NULL;

  if (sluice_db_flush_finish (self->db, result, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
sluice_sqlite_sink_flush_async (SluiceCostSink      *sink,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  SluiceSqliteSink *self = SLUICE_SQLITE_SINK (sink);
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, sluice_sqlite_sink_flush_async);
  sluice_db_flush_async (self->db, NULL, on_db_flushed, task);
}

static gboolean
sluice_sqlite_sink_flush_finish (SluiceCostSink  *sink,
                                 GAsyncResult    *result,
                                 GError         **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
sluice_sqlite_sink_finalize (GObject *object)
{
  SluiceSqliteSink *self = SLUICE_SQLITE_SINK (object);

  g_clear_pointer (&self->db, sluice_db_close);
  g_free (self->spill_path);

  G_OBJECT_CLASS (sluice_sqlite_sink_parent_class)->finalize (object);
}

static void
sluice_sqlite_sink_class_init (SluiceSqliteSinkClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_sqlite_sink_finalize;
}

static void
sluice_sqlite_sink_init (SluiceSqliteSink *self)
{
}

static void
sluice_sqlite_sink_iface_init (SluiceCostSinkInterface *iface)
{
  iface->configure = sluice_sqlite_sink_configure;
  iface->record = sluice_sqlite_sink_record;
  iface->flush_async = sluice_sqlite_sink_flush_async;
  iface->flush_finish = sluice_sqlite_sink_flush_finish;
}
