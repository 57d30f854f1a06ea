/* sluice-batch.c — a pipeline over a JSONL file: lazy input, bounded
 * concurrency, exactly one committed result per input line.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-batch"

#include "sluice-batch-private.h"
#include "sluice-job-store-private.h"

#include <gio/gunixinputstream.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PROGRESS_INTERVAL_MS 250
/* The longest input line read; a longer one is one failed job. */
#define MAX_LINE_BYTES (16 << 20)
#define READ_AHEAD_BYTES (256 << 10)
/* When the database writers fall this far behind (in work items per job
 * slot), no new job starts until they catch up: results wait on disk,
 * not in memory. */
#define MAX_BACKLOG_PER_SLOT 4
#define BACKLOG_RETRY_MS 5
/* Latencies are counted per millisecond up to this bound (and in one
 * bucket above it), so memory stays the same however many jobs run. */
#define LATENCY_BUCKETS 120000

struct _SluiceBatch
{
  SluicePipeline    *pipeline;
  SluiceBatchOptions options;
  char              *input_path;
  char              *output_path;

  SluiceJobStore    *store;
  GBufferedInputStream *input;         /* lines are cut from its buffer */
  gboolean           input_eof;          /* the stream has no more bytes */
  gboolean           skipping;           /* inside a line longer than MAX_LINE_BYTES */
  guint64            long_line_hash;     /* of the long line's first bytes */
  GCancellable      *jobs_cancellable;   /* cancels in-flight jobs after the grace */
  GTask             *task;

  guint64            line_no;
  guint64            bytes_read;
  goffset            input_size;         /* 0 when unknown (a pipe) */
  guint              in_flight;
  gboolean           reading;
  gboolean           eof;
  gboolean           stopping;
  gboolean           finishing;
  GError            *fatal;

  guint              grace_source;
  guint              backlog_source;
  guint              progress_source;
  gint64             started_ms;

  /* summary */
  guint64            ok;
  guint64            failed;
  guint64            resumed;
  guint64            blank;
  guint64            interrupted;
  guint64            retries;
  guint64            calls;               /* provider attempts, hedges included */
  guint64            skipped;             /* targets passed over by an open breaker */
  guint64            hedges;
  gint64             wasted_tokens;
  GHashTable        *served_by;           /* target name → jobs it answered */
  guint64            compliance[SLUICE_COMPLIANCE_INVALID + 1];   /* jobs by SluiceCompliance */
  gdouble            cost;
  guint64            cost_unknown;
  guint64            cache_hits;      /* jobs answered by the cache stage */
  guint64            cache_misses;    /* jobs it looked up and did not find */
  guint64           *latency_counts;      /* [ms] → jobs; the last bucket is "or more" */
  guint64            n_latencies;
};

typedef struct
{
  SluiceBatch   *batch;
  SluiceContext *context;
  guint64        line;
  guint64        hash;
  char          *custom_id;        /* as text */
  JsonNode      *custom_id_node;   /* as the line gave it */
} Job;

static void pump (SluiceBatch *self);

static void
job_free (Job *job)
{
  g_clear_object (&job->context);
  g_free (job->custom_id);
  g_clear_pointer (&job->custom_id_node, json_node_unref);
  g_free (job);
}

SluiceBatch *
sluice_batch_new (SluicePipeline            *pipeline,
                  const SluiceBatchOptions  *options,
                  GError                   **error)
{
  g_autoptr(GFile) file = NULL;
  g_autoptr(GInputStream) stream = NULL;
  SluiceBatch *self;

  if (g_strcmp0 (options->input_path, "-") == 0)
    stream = g_unix_input_stream_new (STDIN_FILENO, FALSE);
  else
    {
      file = g_file_new_for_commandline_arg (options->input_path);
      stream = G_INPUT_STREAM (g_file_read (file, NULL, error));
      if (stream == NULL)
        return NULL;
    }

  self = g_new0 (SluiceBatch, 1);
  self->pipeline = g_object_ref (pipeline);
  self->options = *options;
  self->input_path = g_strdup (options->input_path);
  self->output_path = g_strdup (options->output_path);
  self->options.input_path = self->input_path;
  self->options.output_path = self->output_path;
  if (self->options.concurrency == 0)
    self->options.concurrency = 1;
  self->latency_counts = g_new0 (guint64, LATENCY_BUCKETS);
  self->served_by = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->jobs_cancellable = g_cancellable_new ();

  if (file != NULL)
    {
      g_autoptr(GFileInfo) info = g_file_query_info (file, G_FILE_ATTRIBUTE_STANDARD_SIZE,
                                                     0, NULL, NULL);
      if (info != NULL)
        self->input_size = g_file_info_get_size (info);
    }

  /* The buffer bounds a line: a longer one fails its job, memory stays put. */
  self->input = G_BUFFERED_INPUT_STREAM (g_buffered_input_stream_new_sized (stream, MAX_LINE_BYTES));

  self->store = sluice_job_store_open (options->output_path, sluice_pipeline_get_path (pipeline),
                                       options->input_path, options->resume,
                                       options->overwrite, options->retry_failed, error);
  if (self->store == NULL)
    {
      sluice_batch_free (self);
      return NULL;
    }
  return self;
}

void
sluice_batch_free (SluiceBatch *self)
{
  if (self == NULL)
    return;
  g_clear_handle_id (&self->grace_source, g_source_remove);
  g_clear_handle_id (&self->progress_source, g_source_remove);
  g_clear_handle_id (&self->backlog_source, g_source_remove);
  g_clear_pointer (&self->store, sluice_job_store_close);
  g_clear_object (&self->input);
  g_clear_object (&self->jobs_cancellable);
  g_clear_object (&self->pipeline);
  g_clear_pointer (&self->latency_counts, g_free);
  g_clear_pointer (&self->served_by, g_hash_table_unref);
  g_clear_error (&self->fatal);
  g_free (self->input_path);
  g_free (self->output_path);
  g_free (self);
}

/* ---- progress ------------------------------------------------------------ */

/* The share of lines finished, estimating the file's line count from the
 * bytes read so far (the input is never counted up front). */
static void
draw_progress (SluiceBatch *self,
               gboolean     final)
{
  guint64 done = self->ok + self->failed;
  guint64 finished = done + self->resumed + self->blank;
  gdouble elapsed = (sluice_monotonic_ms () - self->started_ms) / 1000.0;
  gdouble rate = elapsed > 0 ? done / elapsed : 0;
  gdouble total = 0, fraction = 0;
  char bar[31];
  g_autofree char *eta = NULL;

  if (self->eof)
    total = self->line_no;
  else if (self->input_size > 0 && self->bytes_read > 0)
    total = self->line_no * ((gdouble) self->input_size / (gdouble) self->bytes_read);
  if (total > 0)
    fraction = MIN (1.0, finished / total);

  for (guint i = 0; i < 30; i++)
    bar[i] = i < (guint) (fraction * 30) ? '#' : '.';
  bar[30] = '\0';

  if (!final && total > 0 && rate > 0 && finished < total)
    eta = g_strdup_printf ("ETA %.0fs", (total - finished) / rate);
  else
    eta = g_strdup ("");

  fprintf (stderr, "\r\033[K[%s] %3.0f%%  %" G_GUINT64_FORMAT " done (%" G_GUINT64_FORMAT
           " failed)  %u in flight  %.1f jobs/s  %s%s",
           bar, fraction * 100, done, self->failed, self->in_flight, rate, eta,
           final ? "\n" : "");
  fflush (stderr);
}

static gboolean
on_progress_tick (gpointer user_data)
{
  draw_progress (user_data, FALSE);
  return G_SOURCE_CONTINUE;
}

/* ---- finishing ------------------------------------------------------------ */

static void
on_store_flushed (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  SluiceBatch *self = user_data;
  g_autoptr(GError) error = NULL;
  GTask *task = g_steal_pointer (&self->task);

  if (!sluice_job_store_flush_finish (self->store, result, &error) && self->fatal == NULL)
    self->fatal = g_steal_pointer (&error);

  g_clear_handle_id (&self->progress_source, g_source_remove);
  if (self->options.progress)
    draw_progress (self, TRUE);

  if (self->fatal != NULL)
    g_task_return_error (task, g_error_copy (self->fatal));
  else
    g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

static void
on_pipeline_flushed (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  SluiceBatch *self = user_data;
  g_autoptr(GError) error = NULL;

  /* A sink that could not write is reported, but the results are safe. */
  if (!sluice_pipeline_flush_finish (SLUICE_PIPELINE (source), result, &error))
    g_printerr ("sluice: warning: %s\n", error->message);

  sluice_job_store_flush_async (self->store, on_store_flushed, self);
}

static void
maybe_finish (SluiceBatch *self)
{
  if (self->finishing || self->in_flight > 0 || self->reading)
    return;
  if (!self->eof && !self->stopping && self->fatal == NULL)
    return;

  self->finishing = TRUE;
  g_clear_handle_id (&self->grace_source, g_source_remove);
  sluice_pipeline_flush_async (self->pipeline, NULL, on_pipeline_flushed, self);
}

/* ---- jobs ------------------------------------------------------------------ */

static char *
build_result_line (Job        *job,
                   JsonNode   *result,
                   JsonNode   *formatted,
                   gboolean    ok)
{
  g_autoptr(JsonBuilder) builder = json_builder_new_immutable ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "custom_id");
  json_builder_add_value (builder, json_node_ref (job->custom_id_node));
  json_builder_set_member_name (builder, "line");
  json_builder_add_int_value (builder, (gint64) job->line);
  if (ok)
    {
      json_builder_set_member_name (builder, "output");
      json_builder_add_value (builder, json_node_ref (result));
      /* The format stage's rendering beside the output, not instead:
       * the line stays one JSON object with the structured answer. */
      if (formatted != NULL)
        {
          json_builder_set_member_name (builder, "formatted");
          json_builder_add_value (builder, json_node_copy (formatted));
        }
    }
  else
    {
      /* result is {"error": {...}} */
      json_builder_set_member_name (builder, "error");
      json_builder_add_value (builder, json_node_ref (json_object_get_member (json_node_get_object (result), "error")));
    }
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  return sluice_json_to_string (root);
}

/* What the attempts of one job say: how many calls, skips and hedges,
 * the tokens bought for nothing, and which target gave the answer. */
/* The cache stage notes "cache_hit" when it looked the request up. */
static void
count_cache_lookup (SluiceBatch   *self,
                    SluiceContext *context)
{
  JsonNode *hit = json_object_get_member (sluice_context_get_annotations (context), "cache_hit");

  if (hit == NULL || !JSON_NODE_HOLDS_VALUE (hit))
    return;
  if (json_node_get_boolean (hit))
    self->cache_hits++;
  else
    self->cache_misses++;
}

static void
account_attempts (SluiceBatch   *self,
                  SluiceContext *context,
                  gboolean       ok)
{
  JsonArray *attempts = sluice_context_get_attempts (context);
  const char *served = sluice_context_get_answer_target (context);
  guint calls = 0;
  guint hedges = 0;

  for (guint i = 0; i < json_array_get_length (attempts); i++)
    {
      JsonObject *attempt = json_array_get_object_element (attempts, i);
      const char *outcome = attempt != NULL ? sluice_json_get_string (attempt, "outcome") : NULL;

      if (g_strcmp0 (outcome, "skipped") == 0)
        {
          self->skipped++;
          continue;
        }
      calls++;
      if (json_object_get_boolean_member_with_default (attempt, "hedge", FALSE))
        hedges++;
      if (json_object_get_boolean_member_with_default (attempt, "wasted", FALSE))
        self->wasted_tokens += MAX (sluice_json_get_int (attempt, "prompt_tokens", 0), 0) +
                               MAX (sluice_json_get_int (attempt, "completion_tokens", 0), 0);
    }
  /* A hedge is a race, not a retry: it is counted apart. */
  self->calls += calls;
  self->hedges += hedges;
  if (calls - hedges > 1)
    self->retries += calls - hedges - 1;
  if (ok && served != NULL)
    {
      gpointer count = g_hash_table_lookup (self->served_by, served);

      g_hash_table_replace (self->served_by, g_strdup (served), GSIZE_TO_POINTER (GPOINTER_TO_SIZE (count) + 1));
    }
}

static void
account (SluiceBatch   *self,
         SluiceContext *context,
         gboolean       ok)
{
  gdouble cost = sluice_context_get_cost (context);
  gint64 latency = CLAMP (sluice_context_get_elapsed_ms (context), 0, LATENCY_BUCKETS - 1);

  if (ok)
    self->ok++;
  else
    self->failed++;
  account_attempts (self, context, ok);
  self->compliance[sluice_context_get_compliance (context)]++;
  count_cache_lookup (self, context);
  if (cost >= 0)
    self->cost += cost;
  else
    self->cost_unknown++;
  self->latency_counts[latency]++;
  self->n_latencies++;
}

static void
on_job_done (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  Job *job = user_data;
  SluiceBatch *self = job->batch;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  gboolean ok;

  ok = sluice_pipeline_process_finish (SLUICE_PIPELINE (source), result, &error);
  self->in_flight--;

  if (!ok && self->stopping &&
      (g_error_matches (error, SLUICE_ERROR, SLUICE_ERROR_CANCELLED) ||
       g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)))
    {
      /* Interrupted, not finished: left for --resume. */
      self->interrupted++;
    }
  else
    {
      node = sluice_context_dup_result (job->context);
      account (self, job->context, ok);
      sluice_job_store_commit (self->store, job->line, job->hash, job->custom_id, ok,
                               build_result_line (job, node, sluice_context_get_formatted (job->context), ok));
    }

  job_free (job);
  pump (self);
  maybe_finish (self);
}

/* A custom_id as text (for labels and the job store): strings as they
 * are, other JSON values as their JSON text. */
static char *
custom_id_text (JsonNode *id)
{
  if (JSON_NODE_HOLDS_VALUE (id) && json_node_get_value_type (id) == G_TYPE_STRING)
    return g_strdup (json_node_get_string (id));
  return sluice_json_to_string (id);
}

/* A line's "labels": {"user": "alice", ...} become the job's labels
 * (rate-limit keys, budget scopes, ledger records). Values must be text. */
static GError *
read_line_labels (Job           *job,
                  JsonObject    *object,
                  SluiceContext *context)
{
  JsonNode *node = json_object_get_member (object, "labels");
  JsonObjectIter iter;
  const char *key;
  JsonNode *value;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return g_error_new (SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                        "line %" G_GUINT64_FORMAT ": \"labels\" must be an object of strings", job->line);
  json_object_iter_init (&iter, json_node_get_object (node));
  while (json_object_iter_next (&iter, &key, &value))
    {
      if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
        return g_error_new (SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                            "line %" G_GUINT64_FORMAT ": label \"%s\" must be a string", job->line, key);
      if (g_strcmp0 (key, "job") == 0 || g_strcmp0 (key, "pipeline") == 0)
        return g_error_new (SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                            "line %" G_GUINT64_FORMAT ": label \"%s\" is set by sluice", job->line, key);
      sluice_context_set_label (context, key, json_node_get_string (value));
    }
  return NULL;
}

/* An OpenAI Batch body's messages, as a provider would refuse them:
 * an array of objects, each with a known role and string (or parts)
 * content. A bad one fails its own job, not the pipeline. */
static GError *
check_batch_messages (Job      *job,
                      JsonNode *messages)
{
  static const char * const roles[] = { "system", "developer", "user", "assistant", "tool", NULL };
  JsonArray *array;

  if (!JSON_NODE_HOLDS_ARRAY (messages))
    return g_error_new (SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                        "line %" G_GUINT64_FORMAT ": body.messages must be an array of {role, content}", job->line);
  array = json_node_get_array (messages);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *item = json_array_get_element (array, i);
      JsonObject *message = JSON_NODE_HOLDS_OBJECT (item) ? json_node_get_object (item) : NULL;
      const char *role = message != NULL ? sluice_json_get_string (message, "role") : NULL;

      if (message == NULL || role == NULL || !g_strv_contains (roles, role))
        return g_error_new (SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                            "line %" G_GUINT64_FORMAT ": body.messages[%u] must be an object whose role is "
                            "system, developer, user, assistant or tool", job->line, i);
    }
  return NULL;
}

/* Builds the job's context from its line: {"custom_id", "input",
 * "labels"}, or the OpenAI Batch format {"custom_id", "method", "url",
 * "body"}, whose body is the input and whose messages, if any, are the
 * messages to send (an assemble stage may still replace them). A line
 * that cannot be read becomes a job that fails with invalid_input, so it
 * still ends as exactly one output line. */
static SluiceContext *
context_from_line (Job        *job,
                   const char *text,
                   gsize       length)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = sluice_json_from_string (text, (gssize) length, &error);
  g_autoptr(GError) input_error = NULL;
  JsonObject *object = NULL;
  JsonNode *input = NULL;
  JsonNode *id;
  SluiceContext *context;

  if (root == NULL)
    input_error = g_error_new (SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                               "line %" G_GUINT64_FORMAT " is not valid JSON: %s", job->line, error->message);
  else if (!JSON_NODE_HOLDS_OBJECT (root))
    input_error = g_error_new (SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                               "line %" G_GUINT64_FORMAT " is not a JSON object", job->line);
  else
    {
      object = json_node_get_object (root);
      if ((input = json_object_get_member (object, "input")) == NULL &&
          (input = json_object_get_member (object, "body")) == NULL)
        input_error = g_error_new (SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                                   "line %" G_GUINT64_FORMAT " has no \"input\" (expected "
                                   "{\"custom_id\": ..., \"input\": {...}})", job->line);
    }

  id = object != NULL ? json_object_get_member (object, "custom_id") : NULL;
  if (id != NULL && !JSON_NODE_HOLDS_NULL (id))
    {
      job->custom_id_node = json_node_copy (id);
      job->custom_id = custom_id_text (id);
    }
  else
    {
      job->custom_id = g_strdup_printf ("line-%" G_GUINT64_FORMAT, job->line);
      job->custom_id_node = json_node_init_string (json_node_alloc (), job->custom_id);
    }

  context = sluice_context_new (input_error == NULL ? input : NULL);
  if (input_error == NULL)
    input_error = read_line_labels (job, object, context);
  if (input_error != NULL)
    sluice_context_set_error (context, input_error, "batch");
  else if (!json_object_has_member (object, "input") && JSON_NODE_HOLDS_OBJECT (input))
    {
      JsonNode *messages = json_object_get_member (json_node_get_object (input), "messages");
      g_autoptr(GError) bad = messages != NULL ? check_batch_messages (job, messages) : NULL;

      if (bad != NULL)
        sluice_context_set_error (context, bad, "batch");
      else if (messages != NULL)
        sluice_context_set_messages (context, json_node_get_array (messages));
    }
  return context;
}

/* A line that cannot even be read as text becomes a job that fails at
 * once, so it still ends as exactly one output line. */
static void G_GNUC_PRINTF (3, 4)
start_failed_job (SluiceBatch *self,
                  guint64      hash,
                  const char  *format,
                  ...)
{
  Job *job = g_new0 (Job, 1);
  g_autoptr(GError) error = NULL;
  va_list args;

  va_start (args, format);
  error = g_error_new_valist (SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT, format, args);
  va_end (args);

  job->batch = self;
  job->line = self->line_no;
  job->hash = hash;
  job->custom_id = g_strdup_printf ("line-%" G_GUINT64_FORMAT, job->line);
  job->custom_id_node = json_node_init_string (json_node_alloc (), job->custom_id);
  job->context = sluice_context_new (NULL);
  sluice_context_set_error (job->context, error, "batch");
  sluice_context_set_label (job->context, "job", job->custom_id);
  self->in_flight++;
  sluice_pipeline_process_async (self->pipeline, job->context, self->jobs_cancellable,
                                 on_job_done, job);
}

static void
start_job (SluiceBatch *self,
           const char  *text,
           gsize        length)
{
  Job *job = g_new0 (Job, 1);

  job->batch = self;
  job->line = self->line_no;
  job->hash = sluice_job_store_hash_line (text, length);
  job->context = context_from_line (job, text, length);

  sluice_context_set_label (job->context, "job", job->custom_id);
  self->in_flight++;
  sluice_pipeline_process_async (self->pipeline, job->context, self->jobs_cancellable,
                                 on_job_done, job);
}

static gboolean
is_blank (const char *text)
{
  for (; *text != '\0'; text++)
    if (!g_ascii_isspace (*text))
      return FALSE;
  return TRUE;
}

/* One line of input (without its newline), or a line too long to keep. */
static void
handle_line (SluiceBatch *self,
             char        *text,
             gsize        length,
             gboolean     too_long)
{
  gboolean hash_matches = TRUE;
  guint64 hash;

  self->line_no++;
  self->bytes_read += length + 1;
  if (text != NULL && length > 0 && text[length - 1] == '\r')
    text[--length] = '\0';

  if (self->stopping)
    return;   /* read before the stop, not started: left for --resume */

  hash = too_long ? self->long_line_hash : sluice_job_store_hash_line (text, length);
  if (sluice_job_store_is_done (self->store, self->line_no, hash, &hash_matches))
    {
      if (!hash_matches && self->fatal == NULL)
        {
          self->fatal = g_error_new (SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                                     "%s: line %" G_GUINT64_FORMAT " differs from the line "
                                     "the interrupted batch processed; refusing to resume "
                                     "(use --overwrite to start again)",
                                     self->input_path, self->line_no);
          self->stopping = TRUE;
        }
      self->resumed++;
    }
  else if (too_long)
    start_failed_job (self, hash, "line %" G_GUINT64_FORMAT " is longer than %d MB",
                      self->line_no, MAX_LINE_BYTES >> 20);
  else if (is_blank (text))
    self->blank++;
  else
    start_job (self, text, length);
}

static void read_line (SluiceBatch *self);
static gboolean may_take_more (SluiceBatch *self);

static void
on_filled (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  SluiceBatch *self = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_buffered_input_stream_fill_finish (G_BUFFERED_INPUT_STREAM (source), result, &error);

  if (n < 0)
    {
      if (self->fatal == NULL)
        self->fatal = g_error_new (SLUICE_ERROR, SLUICE_ERROR_FAILED, "%s: %s",
                                   self->input_path, error->message);
      self->reading = FALSE;
      self->eof = TRUE;
      maybe_finish (self);
      return;
    }
  if (n == 0)
    self->input_eof = TRUE;
  read_line (self);
}

/* Cuts lines from the buffer while jobs may start, filling it
 * (asynchronously) when it holds no complete line. A loop, not recursion:
 * a resumed batch may skip millions of finished lines here. */
static void
read_line (SluiceBatch *self)
{
  GInputStream *stream = G_INPUT_STREAM (self->input);

  for (;;)
    {
      gsize available = 0;
      const char *buffer;
      const char *newline;

      if (self->stopping || self->fatal != NULL)
        {
          /* A line half read stays in the input for --resume. */
          self->reading = FALSE;
          maybe_finish (self);
          return;
        }

      buffer = g_buffered_input_stream_peek_buffer (self->input, &available);
      newline = memchr (buffer, '\n', available);

      if (newline != NULL || (self->input_eof && available > 0))
        {
          gsize length = newline != NULL ? (gsize) (newline - buffer) : available;
          g_autofree char *text = self->skipping ? NULL : g_strndup (buffer, length);

          g_input_stream_skip (stream, length + (newline != NULL), NULL, NULL);
          handle_line (self, text, length, self->skipping);
          self->skipping = FALSE;
          if (may_take_more (self))
            continue;
          self->reading = FALSE;
          maybe_finish (self);
          return;
        }

      if (self->input_eof)
        {
          self->reading = FALSE;
          self->eof = TRUE;
          maybe_finish (self);
          return;
        }

      if (available >= MAX_LINE_BYTES)
        {
          if (!self->skipping)
            self->long_line_hash = sluice_job_store_hash_line (buffer, available);
          self->skipping = TRUE;
          self->bytes_read += available;
          g_input_stream_skip (stream, available, NULL, NULL);
        }
      /* A little at a time: the buffer is only as full as a line needs. */
      g_buffered_input_stream_fill_async (self->input, READ_AHEAD_BYTES, G_PRIORITY_DEFAULT, NULL,
                                          on_filled, self);
      return;
    }
}

static gboolean
on_backlog_check (gpointer user_data)
{
  SluiceBatch *self = user_data;

  self->backlog_source = 0;
  pump (self);
  return G_SOURCE_REMOVE;
}

/* Whether another line may be read and started now; when the database
 * writers lag, schedules a later look. */
static gboolean
may_take_more (SluiceBatch *self)
{
  if (self->fatal == NULL && sluice_job_store_has_failed (self->store))
    {
      /* Results that cannot be saved must not be paid for: stop here. */
      self->fatal = g_error_new (SLUICE_ERROR, SLUICE_ERROR_FAILED,
                                 "%s: results can no longer be saved (is the disk full?); "
                                 "stopped taking jobs, run again with --resume",
                                 sluice_job_store_get_path (self->store));
      self->stopping = TRUE;
    }
  if (self->eof || self->stopping || self->fatal != NULL)
    return FALSE;
  if (self->in_flight >= self->options.concurrency || self->backlog_source != 0)
    return FALSE;
  if (sluice_db_get_backlog () > MAX_BACKLOG_PER_SLOT * self->options.concurrency)
    {
      self->backlog_source = g_timeout_add (BACKLOG_RETRY_MS, on_backlog_check, self);
      return FALSE;
    }
  return TRUE;
}

static void
pump (SluiceBatch *self)
{
  if (self->reading || !may_take_more (self))
    return;
  self->reading = TRUE;
  read_line (self);
}

void
sluice_batch_run_async (SluiceBatch         *self,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_return_if_fail (self->task == NULL);

  self->task = g_task_new (NULL, NULL, callback, user_data);
  g_task_set_source_tag (self->task, sluice_batch_run_async);
  self->started_ms = sluice_monotonic_ms ();
  if (self->options.progress)
    self->progress_source = g_timeout_add (PROGRESS_INTERVAL_MS, on_progress_tick, self);
  pump (self);
}

gboolean
sluice_batch_run_finish (SluiceBatch   *self,
                         GAsyncResult  *result,
                         GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static gboolean
on_grace_over (gpointer user_data)
{
  SluiceBatch *self = user_data;

  self->grace_source = 0;
  g_cancellable_cancel (self->jobs_cancellable);
  return G_SOURCE_REMOVE;
}

void
sluice_batch_stop (SluiceBatch *self)
{
  if (self->stopping)
    {
      /* A second stop does not wait for the grace period. */
      g_cancellable_cancel (self->jobs_cancellable);
      return;
    }
  self->stopping = TRUE;
  if (self->in_flight > 0)
    self->grace_source = g_timeout_add (MAX (self->options.grace_ms, 0), on_grace_over, self);
  maybe_finish (self);
}

gboolean
sluice_batch_was_stopped (SluiceBatch *self)
{
  return self->stopping && self->fatal == NULL;
}

/* Nearest-rank percentile over the latency histogram. */
static gint64
percentile (SluiceBatch *self,
            gdouble      p)
{
  guint64 rank, seen = 0;

  if (self->n_latencies == 0)
    return 0;
  rank = (guint64) ((p / 100.0) * self->n_latencies + 0.999999);
  rank = CLAMP (rank, 1, self->n_latencies);
  for (guint ms = 0; ms < LATENCY_BUCKETS; ms++)
    {
      seen += self->latency_counts[ms];
      if (seen >= rank)
        return ms;
    }
  return LATENCY_BUCKETS - 1;
}

static JsonObject *
served_by_object (SluiceBatch *self)
{
  JsonObject *object = json_object_new ();
  GHashTableIter iter;
  gpointer name, count;

  g_hash_table_iter_init (&iter, self->served_by);
  while (g_hash_table_iter_next (&iter, &name, &count))
    json_object_set_int_member (object, name, (gint64) GPOINTER_TO_SIZE (count));
  return object;
}

/* Jobs per format-compliance outcome; empty when no job's answer was
 * checked (the pipeline has neither parse nor validate). */
static JsonObject *
compliance_object (SluiceBatch *self)
{
  JsonObject *object = json_object_new ();

  guint64 checked = 0;

  for (SluiceCompliance c = SLUICE_COMPLIANCE_VALID_FIRST_TRY; c <= SLUICE_COMPLIANCE_INVALID; c++)
    checked += self->compliance[c];
  if (checked == 0)
    return object;
  for (SluiceCompliance c = SLUICE_COMPLIANCE_VALID_FIRST_TRY; c <= SLUICE_COMPLIANCE_INVALID; c++)
    json_object_set_int_member (object, sluice_compliance_to_string (c), (gint64) self->compliance[c]);
  return object;
}

JsonObject *
sluice_batch_get_summary (SluiceBatch *self)
{
  JsonObject *summary = json_object_new ();
  gdouble elapsed = (sluice_monotonic_ms () - self->started_ms) / 1000.0;

  json_object_set_int_member (summary, "ok", (gint64) self->ok);
  json_object_set_int_member (summary, "failed", (gint64) self->failed);
  json_object_set_int_member (summary, "failed_total",
                              MAX ((gint64) self->failed, sluice_job_store_count_failed (self->store)));
  json_object_set_int_member (summary, "resumed", (gint64) self->resumed);
  json_object_set_int_member (summary, "blank", (gint64) self->blank);
  json_object_set_int_member (summary, "interrupted", (gint64) self->interrupted);
  json_object_set_int_member (summary, "retries", (gint64) self->retries);
  json_object_set_int_member (summary, "calls", (gint64) self->calls);
  json_object_set_int_member (summary, "breaker_skips", (gint64) self->skipped);
  json_object_set_int_member (summary, "hedges", (gint64) self->hedges);
  json_object_set_int_member (summary, "wasted_tokens", self->wasted_tokens);
  json_object_set_object_member (summary, "served_by", served_by_object (self));
  json_object_set_object_member (summary, "compliance", compliance_object (self));
  json_object_set_int_member (summary, "cache_hits", (gint64) self->cache_hits);
  json_object_set_int_member (summary, "cache_misses", (gint64) self->cache_misses);
  json_object_set_double_member (summary, "cost_usd", self->cost);
  json_object_set_int_member (summary, "cost_unknown", (gint64) self->cost_unknown);
  json_object_set_int_member (summary, "p50_ms", percentile (self, 50));
  json_object_set_int_member (summary, "p95_ms", percentile (self, 95));
  json_object_set_double_member (summary, "elapsed_s", elapsed);
  json_object_set_double_member (summary, "jobs_per_s",
                                 elapsed > 0 ? (self->ok + self->failed) / elapsed : 0);
  json_object_set_string_member (summary, "output", self->output_path);
  json_object_set_string_member (summary, "state_file", sluice_job_store_get_path (self->store));
  return summary;
}
