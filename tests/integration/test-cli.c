/* test-cli.c — the sluice command line, end to end, against sluice-mock.
 *
 * Every test runs the real `sluice` executable (SLUICE_CLI) in a fresh
 * temporary folder with its own SLUICE_STATE_DIR, SLUICE_BASE_URL and
 * SLUICE_API_KEY, and checks what a user would see: exit codes, standard
 * output and error, the output file, the batch state and the ledger.
 *
 * Each test case runs in its own process (g_test_trap_subprocess), so one
 * failing case does not hide the others; the processes a case starts (the
 * mock, the CLI) die with it (PR_SET_PDEATHSIG), so nothing is left behind.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define _GNU_SOURCE   /* memmem */

#include "sluice-test-util.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#define SECRET_KEY "sk-test-DO-NOT-LEAK-4242"
#define PLAIN_KEY "sk-test-plain-key"
#define CASE_TIMEOUT_S 60
#define POLL_MS 5

/* ---- one test's world: a folder, a state dir, maybe a mock ------------------ */

typedef struct
{
  char        *dir;
  char        *state_dir;
  char        *api_key;        /* NULL: SLUICE_API_KEY is unset for the CLI */
  GSubprocess *mock;
  char        *mock_url;       /* http://127.0.0.1:PORT */
  GStrv        extra_env;      /* NAME, VALUE, NAME, VALUE, ...: set last */
} Env;

typedef struct
{
  int     status;              /* exit status, or 128 + signal */
  char   *out;
  char   *err;
  gdouble elapsed_s;
} Result;

static void
kill_with_parent (gpointer user_data)
{
  /* The test case is a process of its own; when it dies (an assertion),
   * its mock and CLI must not outlive it. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static Env *
env_new (void)
{
  g_autoptr(GError) error = NULL;
  Env *env = g_new0 (Env, 1);
  const char *base = g_getenv ("SLUICE_STATE_DIR");

  /* Under the build tree's test-state folder when there is one: a failed
   * case keeps its folder for a look, and tools/run-tests clears it. */
  if (base != NULL)
    {
      g_assert_cmpint (g_mkdir_with_parents (base, 0700), ==, 0);
      env->dir = g_build_filename (base, "cli-XXXXXX", NULL);
      g_assert_nonnull (g_mkdtemp (env->dir));
    }
  else
    {
      env->dir = g_dir_make_tmp ("sluice-cli-XXXXXX", &error);
      g_assert_no_error (error);
    }
  g_test_message ("folder: %s", env->dir);
  env->state_dir = g_build_filename (env->dir, "state", NULL);
  g_assert_cmpint (g_mkdir (env->state_dir, 0700), ==, 0);
  env->api_key = g_strdup (PLAIN_KEY);
  return env;
}

static char *
env_path (Env        *env,
          const char *name)
{
  return g_build_filename (env->dir, name, NULL);
}

static char *
env_write (Env        *env,
           const char *name,
           const char *contents)
{
  g_autoptr(GError) error = NULL;
  char *path = env_path (env, name);

  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
  return path;
}

static char *
ledger_path (Env *env)
{
  return g_build_filename (env->state_dir, "ledger.db", NULL);
}

static void
mock_start (Env        *env,
            const char *first_arg,
            ...)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GError) error = NULL;
  const char *binary = g_getenv ("SLUICE_MOCK");
  va_list args;

  g_assert_nonnull (binary);
  g_assert_null (env->mock);

  g_ptr_array_add (argv, (gpointer) binary);
  g_ptr_array_add (argv, (gpointer) "--port");
  g_ptr_array_add (argv, (gpointer) "0");
  va_start (args, first_arg);
  for (const char *arg = first_arg; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);

  g_subprocess_launcher_set_child_setup (launcher, kill_with_parent, NULL, NULL);
  env->mock = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (env->mock));
  env->mock_url = g_data_input_stream_read_line (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (env->mock_url);
  g_assert_true (g_str_has_prefix (env->mock_url, "http://127.0.0.1:"));
}

static void
mock_stop (Env *env)
{
  if (env->mock == NULL)
    return;
  g_subprocess_send_signal (env->mock, SIGTERM);
  g_subprocess_wait (env->mock, NULL, NULL);
  g_clear_object (&env->mock);
  g_clear_pointer (&env->mock_url, g_free);
}

/* GET @path of the running mock, a JSON object. */
static JsonObject *
mock_get (Env        *env,
          const char *path)
{
  g_autofree char *uri = g_strconcat (env->mock_url, path, NULL);
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autoptr(SoupMessage) message = soup_message_new ("GET", uri);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = soup_session_send_and_read (session, message, NULL, &error);
  g_autoptr(JsonNode) node = NULL;

  g_assert_no_error (error);
  node = json_from_string (g_bytes_get_data (body, NULL), &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  return json_object_ref (json_node_get_object (node));
}

static JsonObject *
mock_stats (Env *env)
{
  return mock_get (env, "/mock/stats");
}

static gint64
mock_requests (Env *env)
{
  g_autoptr(JsonObject) stats = mock_stats (env);

  return json_object_get_int_member (stats, "requests");
}

static gboolean
delete_tree (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
      const char *name;

      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          delete_tree (child);
        }
      return g_rmdir (path) == 0;
    }
  return g_unlink (path) == 0;
}

static void
env_free (Env *env)
{
  mock_stop (env);
  /* Reached only when the case passed: a failing one keeps its folder. */
  delete_tree (env->dir);
  g_free (env->dir);
  g_free (env->state_dir);
  g_free (env->api_key);
  g_strfreev (env->extra_env);
  g_free (env);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Env, env_free)

/* ---- running the CLI ------------------------------------------------------------ */

static GSubprocessLauncher *
cli_launcher (Env            *env,
              GSubprocessFlags flags)
{
  GSubprocessLauncher *launcher = g_subprocess_launcher_new (flags);

  g_subprocess_launcher_set_cwd (launcher, env->dir);
  g_subprocess_launcher_set_child_setup (launcher, kill_with_parent, NULL, NULL);
  g_subprocess_launcher_setenv (launcher, "SLUICE_STATE_DIR", env->state_dir, TRUE);
  if (env->mock_url != NULL)
    {
      g_autofree char *base = g_strconcat (env->mock_url, "/v1", NULL);
      g_subprocess_launcher_setenv (launcher, "SLUICE_BASE_URL", base, TRUE);
    }
  else
    /* Nothing listens there: a test without a mock must not reach a network. */
    g_subprocess_launcher_setenv (launcher, "SLUICE_BASE_URL", "http://127.0.0.1:9/v1", TRUE);
  if (env->api_key != NULL)
    g_subprocess_launcher_setenv (launcher, "SLUICE_API_KEY", env->api_key, TRUE);
  else
    g_subprocess_launcher_unsetenv (launcher, "SLUICE_API_KEY");
  g_subprocess_launcher_unsetenv (launcher, "SLUICE_TIMEOUT");
  g_subprocess_launcher_unsetenv (launcher, "SLUICE_MODEL");
  g_subprocess_launcher_unsetenv (launcher, "SLUICE_PROVIDER");
  g_subprocess_launcher_unsetenv (launcher, "SLUICE_STREAM");
  for (guint i = 0; env->extra_env != NULL && env->extra_env[i] != NULL && env->extra_env[i + 1] != NULL; i += 2)
    g_subprocess_launcher_setenv (launcher, env->extra_env[i], env->extra_env[i + 1], TRUE);
  return launcher;
}

static GPtrArray *
cli_argv (const char *first_arg,
          va_list     args)
{
  GPtrArray *argv = g_ptr_array_new ();
  const char *cli = g_getenv ("SLUICE_CLI");

  g_assert_nonnull (cli);
  g_ptr_array_add (argv, (gpointer) cli);
  for (const char *arg = first_arg; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (gpointer) arg);
  g_ptr_array_add (argv, NULL);
  return argv;
}

static int
exit_status_of (GSubprocess *process)
{
  if (g_subprocess_get_if_exited (process))
    return g_subprocess_get_exit_status (process);
  g_assert_true (g_subprocess_get_if_signaled (process));
  return 128 + g_subprocess_get_term_sig (process);
}

/* What must never show on the CLI's standard error, whatever the case. */
static void
assert_clean_stderr (const char *err)
{
  static const char * const forbidden[] = {
    "CRITICAL", "-WARNING **", "AddressSanitizer", "LeakSanitizer", "runtime error:", NULL
  };

  for (guint i = 0; forbidden[i] != NULL; i++)
    if (strstr (err, forbidden[i]) != NULL)
      {
        g_printerr ("--- sluice stderr ---\n%s\n---\n", err);
        g_assert_null (strstr (err, forbidden[i]));
      }
}

static void
result_free (Result *result)
{
  g_free (result->out);
  g_free (result->err);
  g_free (result);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Result, result_free)

/* Runs `sluice ARGS…` to its end; stdin_text may be NULL. */
static Result *
run_cli (Env        *env,
         const char *stdin_text,
         const char *first_arg,
         ...)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GPtrArray) argv = NULL;
  g_autoptr(GError) error = NULL;
  Result *result = g_new0 (Result, 1);
  gint64 start;
  va_list args;

  va_start (args, first_arg);
  argv = cli_argv (first_arg, args);
  va_end (args);

  launcher = cli_launcher (env, G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                G_SUBPROCESS_FLAGS_STDERR_PIPE);
  start = g_get_monotonic_time ();
  process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, stdin_text != NULL ? stdin_text : "", NULL,
                                 &result->out, &result->err, &error);
  g_assert_no_error (error);
  result->elapsed_s = (g_get_monotonic_time () - start) / (gdouble) G_USEC_PER_SEC;
  result->status = exit_status_of (process);
  assert_clean_stderr (result->err);
  return result;
}

#define assert_status(result, expected)                                               \
  G_STMT_START {                                                                      \
    if ((result)->status != (expected))                                               \
      g_printerr ("--- sluice stdout ---\n%s\n--- sluice stderr ---\n%s\n---\n",       \
                  (result)->out, (result)->err);                                      \
    g_assert_cmpint ((result)->status, ==, (expected));                               \
  } G_STMT_END

/* Starts `sluice ARGS…` in the background; its stdout and stderr go to
 * files out_name and err_name in the test's folder. */
static GSubprocess *
spawn_cli (Env        *env,
           const char *out_name,
           const char *err_name,
           const char *first_arg,
           ...)
{
  g_autoptr(GSubprocessLauncher) launcher = cli_launcher (env, G_SUBPROCESS_FLAGS_STDIN_INHERIT);
  g_autofree char *out_path = env_path (env, out_name);
  g_autofree char *err_path = env_path (env, err_name);
  g_autoptr(GPtrArray) argv = NULL;
  g_autoptr(GError) error = NULL;
  GSubprocess *process;
  va_list args;

  va_start (args, first_arg);
  argv = cli_argv (first_arg, args);
  va_end (args);

  g_subprocess_launcher_set_stdout_file_path (launcher, out_path);
  g_subprocess_launcher_set_stderr_file_path (launcher, err_path);
  process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  return process;
}

static char *
read_text (const char *path)
{
  g_autoptr(GError) error = NULL;
  char *contents = NULL;

  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);
  return contents;
}

/* Complete lines of a file (a torn last line is not counted); 0 when the
 * file does not exist yet. */
static guint
count_complete_lines (const char *path)
{
  g_autofree char *contents = NULL;
  guint n = 0;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return 0;
  for (const char *p = contents; *p != '\0'; p++)
    n += *p == '\n';
  return n;
}

/* Waits until path has at least n complete lines; fails if the process
 * ends first or it takes longer than timeout_s. */
static void
wait_for_lines (GSubprocess *process,
                const char  *path,
                guint        n,
                gdouble      timeout_s)
{
  gint64 end = g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC);

  while (count_complete_lines (path) < n)
    {
      if (g_subprocess_get_identifier (process) == NULL)
        {
          g_printerr ("the batch ended before writing %u lines\n", n);
          g_assert_not_reached ();
        }
      g_assert_cmpint (g_get_monotonic_time (), <, end);
      g_usleep (POLL_MS * 1000);
    }
}

/* ---- JSON and SQLite ---------------------------------------------------------------- */

static JsonNode *
parse_json (const char *text)
{
  g_autoptr(GError) error = NULL;
  JsonNode *node = json_from_string (text, &error);

  if (error != NULL)
    g_printerr ("not JSON: %s\n", text);
  g_assert_no_error (error);
  g_assert_nonnull (node);
  return node;
}

static const char *
string_member (JsonObject *object,
               const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static gboolean
int_member (JsonObject *object,
            const char *name,
            gint64     *value)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  *value = json_node_get_int (node);
  return TRUE;
}

/* The sentiment pipeline's output schema, checked independently of the
 * engine's validator. */
static void
assert_sentiment_output (JsonNode *node)
{
  static const char * const sentiments[] = { "positive", "negative", "neutral", NULL };
  JsonObject *object;
  JsonNode *confidence;
  gdouble value;

  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  object = json_node_get_object (node);
  g_assert_cmpuint (json_object_get_size (object), ==, 3);
  g_assert_nonnull (string_member (object, "sentiment"));
  g_assert_true (g_strv_contains (sentiments, string_member (object, "sentiment")));
  confidence = json_object_get_member (object, "confidence");
  g_assert_nonnull (confidence);
  g_assert_true (JSON_NODE_HOLDS_VALUE (confidence));
  g_assert_true (json_node_get_value_type (confidence) == G_TYPE_DOUBLE ||
                 json_node_get_value_type (confidence) == G_TYPE_INT64);
  value = json_node_get_value_type (confidence) == G_TYPE_DOUBLE ? json_node_get_double (confidence)
                                                                 : (gdouble) json_node_get_int (confidence);
  g_assert_cmpfloat (value, >=, 0.0);
  g_assert_cmpfloat (value, <=, 1.0);
  g_assert_nonnull (string_member (object, "reasoning"));
  g_assert_cmpuint (strlen (string_member (object, "reasoning")), >, 0);
}

static const char * const error_kinds[] = {
  "internal", "pipeline", "unknown_plugin", "config", "invalid_input", "rate_limited",
  "overloaded", "server", "timeout", "network", "truncated", "context_overflow",
  "content_filter", "auth", "bad_request", "not_found", "malformed", "parse", "validation",
  "cancelled", "rerun_limit", "budget_exceeded", "not_implemented", NULL
};

/* {"kind", "message", "stage", "attempts"}: returns the kind. */
static const char *
assert_structured_error (JsonObject *error)
{
  const char *kind = string_member (error, "kind");
  JsonNode *attempts = json_object_get_member (error, "attempts");

  g_assert_nonnull (kind);
  g_assert_true (g_strv_contains (error_kinds, kind));
  g_assert_nonnull (string_member (error, "message"));
  g_assert_cmpuint (strlen (string_member (error, "message")), >, 0);
  g_assert_nonnull (string_member (error, "stage"));
  g_assert_nonnull (attempts);
  g_assert_true (JSON_NODE_HOLDS_ARRAY (attempts));
  return kind;
}

/* The rows of a query, as JSON objects named by column. */
static JsonArray *
db_query (const char *path,
          const char *sql)
{
  g_autoptr(GError) error = NULL;
  JsonArray *rows;

  g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
  rows = sluice_db_query (path, sql, &error);
  g_assert_no_error (error);
  return rows;
}

static gint64
db_int (const char *path,
        const char *sql)
{
  g_autoptr(JsonArray) rows = db_query (path, sql);
  JsonObject *row;
  g_autoptr(GList) values = NULL;

  g_assert_cmpuint (json_array_get_length (rows), ==, 1);
  row = json_array_get_object_element (rows, 0);
  values = json_object_get_values (row);
  g_assert_cmpuint (g_list_length (values), ==, 1);
  return json_node_get_int (values->data);
}

/* ---- inputs and pipelines ------------------------------------------------------------ */

static char *
source_path (const char *relative)
{
  const char *root = g_getenv ("SLUICE_SOURCE_ROOT");

  g_assert_nonnull (root);
  return g_build_filename (root, relative, NULL);
}

static char *
sentiment_pipeline (void)
{
  return source_path ("pipelines/sentiment.yaml");
}

/* The lines of pipelines/data/reviews.jsonl. */
static GStrv
review_lines (void)
{
  g_autofree char *path = source_path ("pipelines/data/reviews.jsonl");
  g_autofree char *contents = read_text (path);
  g_auto(GStrv) lines = g_strsplit (g_strchomp (contents), "\n", -1);

  g_assert_cmpuint (g_strv_length (lines), >=, 200);
  return g_steal_pointer (&lines);
}

static char *
custom_id_of (const char *line)
{
  g_autoptr(JsonNode) node = parse_json (line);

  return g_strdup (string_member (json_node_get_object (node), "custom_id"));
}

/* Writes the first n reviews as an input file; returns its path and, in
 * *ids (1-based, ids[0] unused), each line's custom_id. */
static char *
write_reviews (Env        *env,
               const char *name,
               guint       n,
               GStrv      *ids)
{
  g_auto(GStrv) reviews = review_lines ();
  g_autoptr(GString) text = g_string_new (NULL);
  GStrvBuilder *builder = g_strv_builder_new ();

  g_assert_cmpuint (n, <=, g_strv_length (reviews));
  g_strv_builder_add (builder, "");
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *id = custom_id_of (reviews[i]);

      g_string_append_printf (text, "%s\n", reviews[i]);
      g_strv_builder_add (builder, id);
    }
  *ids = g_strv_builder_end (builder);
  g_strv_builder_unref (builder);
  return env_write (env, name, text->str);
}

/* The sentiment pipeline with another call stage: timeout and retry. */
static char *
write_pipeline (Env        *env,
                const char *name,
                const char *timeout,
                guint       max_attempts)
{
  g_autofree char *yaml = g_strdup_printf (
    "name: sentiment-test\n"
    "input:\n"
    "  type: object\n"
    "  required: [text]\n"
    "  properties: {text: {type: string, minLength: 1}}\n"
    "output:\n"
    "  type: object\n"
    "  required: [sentiment, confidence, reasoning]\n"
    "  additionalProperties: false\n"
    "  properties:\n"
    "    sentiment: {enum: [positive, negative, neutral]}\n"
    "    confidence: {type: number, minimum: 0, maximum: 1}\n"
    "    reasoning: {type: string, minLength: 1}\n"
    "stages:\n"
    "  - validate-input: {}\n"
    "  - assemble:\n"
    "      system: Classify the sentiment of the text. Answer in JSON.\n"
    "      user: \"{{text}}\"\n"
    "  - call:\n"
    "      target:\n"
    "        provider: openai\n"
    "        model: gpt-4o-mini\n"
    "        base_url: ${SLUICE_BASE_URL}\n"
    "        api_key: ${SLUICE_API_KEY}\n"
    "      timeout: %s\n"
    "      retry: {max_attempts: %u, base: 10ms, cap: 50ms}\n"
    "  - parse: {format: json}\n"
    "  - validate: {correction_retries: 1}\n"
    "  - log: {sinks: [sqlite]}\n",
    timeout, max_attempts);

  return env_write (env, name, yaml);
}

static void
node_free (gpointer node)
{
  if (node != NULL)
    json_node_unref (node);
}

/* Checks a finished batch output: exactly n lines, each line number
 * 1..n once, custom_ids as in the input (ids[line]). Returns the lines by
 * number (element 0 unused). */
static GPtrArray *
read_batch_output (const char  *path,
                   guint        n,
                   const char **ids)
{
  g_autofree char *contents = read_text (path);
  g_auto(GStrv) lines = NULL;
  GPtrArray *by_line = g_ptr_array_new_with_free_func (node_free);
  guint n_lines;

  g_assert_true (g_str_has_suffix (contents, "\n"));
  lines = g_strsplit (contents, "\n", -1);
  n_lines = g_strv_length (lines) - 1;   /* after the last newline: "" */
  g_assert_cmpstr (lines[n_lines], ==, "");
  g_assert_cmpuint (n_lines, ==, n);

  g_ptr_array_set_size (by_line, n + 1);
  for (guint i = 0; i < n_lines; i++)
    {
      JsonNode *node = parse_json (lines[i]);
      JsonObject *object;
      gint64 line = 0;

      g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
      object = json_node_get_object (node);
      g_assert_true (int_member (object, "line", &line));
      g_assert_cmpint (line, >=, 1);
      g_assert_cmpint (line, <=, n);
      if (g_ptr_array_index (by_line, line) != NULL)
        g_printerr ("line %" G_GINT64_FORMAT " appears twice in %s\n", line, path);
      g_assert_null (g_ptr_array_index (by_line, line));
      by_line->pdata[line] = node;
      g_assert_cmpstr (string_member (object, "custom_id"), ==, ids[line]);
      /* exactly one of output and error */
      g_assert_true (json_object_has_member (object, "output") != json_object_has_member (object, "error"));
      g_assert_cmpuint (json_object_get_size (object), ==, 3);
    }
  return by_line;
}

static JsonObject *
line_object (GPtrArray *by_line,
             guint      line)
{
  return json_node_get_object (g_ptr_array_index (by_line, line));
}

/* ---- 1. a batch with bad lines and a faulty provider ----------------------------------- */

static void
test_batch_bad_lines (void)
{
  g_autoptr(Env) env = env_new ();
  g_auto(GStrv) reviews = review_lines ();
  g_autoptr(GString) text = g_string_new (NULL);
  g_autofree char *pipeline = sentiment_pipeline ();
  g_autofree char *input = NULL;
  g_autofree char *output = env_path (env, "out.jsonl");
  g_autofree char *ledger = ledger_path (env);
  g_autoptr(GPtrArray) by_line = NULL;
  g_autoptr(JsonNode) summary_node = NULL;
  g_autoptr(JsonArray) job_ids = NULL;
  g_autoptr(Result) result = NULL;
  g_autoptr(GHashTable) expected_ids = g_hash_table_new (g_str_hash, g_str_equal);
  const guint n = 40;
  const char *ids[41] = { NULL };
  g_autoptr(GPtrArray) id_storage = g_ptr_array_new_with_free_func (g_free);
  guint n_ok = 0, n_failed = 0;
  JsonObject *summary;
  JsonObject *compliance;
  gint64 mock_total;

  for (guint line = 1; line <= n; line++)
    {
      const char *content;
      char *id;

      switch (line)
        {
        case 5:
          content = "{\"custom_id\": \"x\", \"input\": ";
          id = g_strdup ("line-5");
          break;
        case 9:
          content = "[1,2]";
          id = g_strdup ("line-9");
          break;
        case 13:
          content = "{\"custom_id\": \"review-no-input\", \"text\": \"forgot the input member\"}";
          id = g_strdup ("review-no-input");
          break;
        case 17:
          content = "{\"custom_id\": \"review-empty-text\", \"input\": {\"text\": \"\"}}";
          id = g_strdup ("review-empty-text");
          break;
        default:
          content = reviews[line - 1];
          id = custom_id_of (content);
          break;
        }
      g_ptr_array_add (id_storage, id);
      ids[line] = id;
      g_hash_table_add (expected_ids, id);
      g_string_append_printf (text, "%s\n", content);
    }
  g_assert_cmpuint (g_hash_table_size (expected_ids), ==, n);
  input = env_write (env, "in.jsonl", text->str);

  mock_start (env, "--faults", "0.2",
              "--fault-kinds", "rate_limit,server_error,overloaded,malformed,html,bad_answer",
              "--seed", "3", NULL);
  result = run_cli (env, NULL, "batch", pipeline, input, "-o", output, "--quiet", "--json", NULL);

  by_line = read_batch_output (output, n, ids);
  for (guint line = 1; line <= n; line++)
    {
      JsonObject *object = line_object (by_line, line);

      if (line == 5 || line == 9 || line == 13 || line == 17)
        {
          JsonObject *error = json_object_get_object_member (object, "error");

          g_assert_nonnull (error);
          g_assert_cmpstr (assert_structured_error (error), ==, "invalid_input");
          g_assert_cmpuint (json_array_get_length (json_object_get_array_member (error, "attempts")), ==, 0);
          if (line == 5)
            g_assert_nonnull (strstr (string_member (error, "message"), "line 5 is not valid JSON"));
          if (line == 9)
            g_assert_nonnull (strstr (string_member (error, "message"), "line 9 is not a JSON object"));
          if (line == 13)
            g_assert_nonnull (strstr (string_member (error, "message"), "line 13 has no \"input\""));
          n_failed++;
        }
      else if (json_object_has_member (object, "output"))
        {
          assert_sentiment_output (json_object_get_member (object, "output"));
          n_ok++;
        }
      else
        {
          const char *kind = assert_structured_error (json_object_get_object_member (object, "error"));

          /* Failures of the provider, never of the engine or a stop. */
          g_assert_cmpstr (kind, !=, "internal");
          g_assert_cmpstr (kind, !=, "cancelled");
          g_assert_cmpstr (kind, !=, "invalid_input");
          n_failed++;
        }
    }

  g_test_message ("%u ok, %u failed", n_ok, n_failed);
  /* Retries and the correction turn a 20% fault rate into few failures. */
  g_assert_cmpuint (n_ok, >=, 30);
  assert_status (result, n_failed > 0 ? 1 : 0);

  summary_node = parse_json (result->out);
  summary = json_node_get_object (summary_node);
  g_assert_cmpint (json_object_get_int_member (summary, "ok"), ==, n_ok);
  g_assert_cmpint (json_object_get_int_member (summary, "failed"), ==, n_failed);
  g_assert_cmpint (json_object_get_int_member (summary, "interrupted"), ==, 0);
  g_assert_cmpint (json_object_get_int_member (summary, "resumed"), ==, 0);

  /* The ledger: one request row per job, each job once. */
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM requests"), ==, n);
  g_assert_cmpint (db_int (ledger, "SELECT count(DISTINCT job_id) FROM requests"), ==, n);
  job_ids = db_query (ledger, "SELECT job_id FROM requests");
  for (guint i = 0; i < json_array_get_length (job_ids); i++)
    {
      const char *job_id = string_member (json_array_get_object_element (job_ids, i), "job_id");

      g_assert_nonnull (job_id);
      g_assert_true (g_hash_table_contains (expected_ids, job_id));
    }
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM requests WHERE outcome = 'ok'"), ==, n_ok);

  /* Format compliance: every answer kept passed validate, first or after
   * a correction; the summary counts what the ledger holds; a job refused
   * before any answer has none. */
  compliance = json_object_get_object_member (summary, "compliance");
  g_assert_cmpuint (json_object_get_size (compliance), ==, 4);
  g_assert_cmpint (json_object_get_int_member (compliance, "valid_first_try") +
                   json_object_get_int_member (compliance, "valid_after_correction"), ==, n_ok);
  g_assert_cmpint (json_object_get_int_member (compliance, "valid_after_repair"), ==, 0);   /* repair is off */
  for (guint i = 0; i < 4; i++)
    {
      const char *outcome = (const char *[]) { "valid_first_try", "valid_after_correction", "valid_after_repair",
                                               "invalid" }[i];
      g_autofree char *sql = g_strdup_printf ("SELECT count(*) FROM requests WHERE compliance = '%s'", outcome);

      g_test_message ("%s: %" G_GINT64_FORMAT, outcome, json_object_get_int_member (compliance, outcome));
      g_assert_cmpint (db_int (ledger, sql), ==, json_object_get_int_member (compliance, outcome));
    }
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM requests WHERE compliance IS NULL "
                                   "AND error_kind = 'invalid_input'"), ==, 4);

  /* Every HTTP request the provider received is an attempt in the ledger. */
  mock_total = mock_requests (env);
  g_assert_cmpint (mock_total, >, n - 4);
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM attempts"), ==, mock_total);

  /* An attempt's number identifies it within its request, also when the
   * validate stage's correction turn calls the provider again. */
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM attempts a JOIN requests r USING (request_id) "
                                   "WHERE r.attempts > 1"), >, 0);
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM (SELECT request_id, attempt FROM attempts "
                                   "GROUP BY request_id, attempt HAVING count(*) > 1)"), ==, 0);
}

/* ---- 2. resume after kill -9 ----------------------------------------------------------- */

static void
test_batch_resume_after_kill (void)
{
  g_autoptr(Env) env = env_new ();
  g_autofree char *pipeline = sentiment_pipeline ();
  g_autofree char *output = env_path (env, "out.jsonl");
  g_autofree char *state = env_path (env, "out.jsonl.sluice-state");
  g_auto(GStrv) ids = NULL;
  g_autofree char *input = NULL;
  g_autofree char *killed_output = NULL;
  g_autoptr(GSubprocess) batch = NULL;
  g_autoptr(GPtrArray) by_line = NULL;
  g_autoptr(JsonArray) committed_lines = NULL;
  g_autoptr(GHashTable) committed_set = g_hash_table_new (g_direct_hash, g_direct_equal);
  g_autoptr(Result) resumed = NULL;
  g_autoptr(Result) again = NULL;
  g_autoptr(Result) changed = NULL;
  g_autoptr(JsonNode) summary_node = NULL;
  g_auto(GStrv) killed_lines = NULL;
  const guint n = 200;
  guint written;
  gint64 committed, before, after;

  input = write_reviews (env, "in.jsonl", n, &ids);
  mock_start (env, "--latency", "40ms", NULL);

  /* --no-cache: a job answered but killed before its commit would be a
   * cache hit on resume, with no provider call to count. */
  batch = spawn_cli (env, "batch.out", "batch.err",
                     "batch", pipeline, input, "-o", output, "--concurrency", "4", "--quiet", "--no-cache", NULL);
  wait_for_lines (batch, output, 40, 30);
  g_subprocess_force_exit (batch);
  g_subprocess_wait (batch, NULL, NULL);
  g_assert_true (g_subprocess_get_if_signaled (batch));
  g_assert_cmpint (g_subprocess_get_term_sig (batch), ==, SIGKILL);

  /* What the killed run left: every line in the output is committed. */
  written = count_complete_lines (output);
  committed = db_int (state, "SELECT count(*) FROM jobs");
  g_assert_cmpint (written, >=, 40);
  g_assert_cmpint (committed, >=, written);
  g_assert_cmpint (committed, <, n);   /* else the kill came too late to test anything */
  committed_lines = db_query (state, "SELECT line FROM jobs");
  for (guint i = 0; i < json_array_get_length (committed_lines); i++)
    g_hash_table_add (committed_set,
                      GINT_TO_POINTER (json_object_get_int_member (json_array_get_object_element (committed_lines, i), "line")));
  killed_output = read_text (output);
  killed_lines = g_strsplit (killed_output, "\n", -1);
  for (guint i = 0; i < written; i++)
    {
      g_autoptr(JsonNode) node = parse_json (killed_lines[i]);
      gint64 line = json_object_get_int_member (json_node_get_object (node), "line");

      g_assert_true (g_hash_table_contains (committed_set, GINT_TO_POINTER (line)));
    }

  before = mock_requests (env);
  g_assert_cmpint (before, >=, committed);
  g_test_message ("killed: %u lines written, %" G_GINT64_FORMAT " jobs committed, "
                  "%" G_GINT64_FORMAT " requests made", written, committed, before);

  /* A kill can tear the last line of the output; the store is the truth. */
  {
    FILE *out = fopen (output, "a");

    g_assert_nonnull (out);
    fputs ("{\"custom_id\": \"review-00", out);
    fclose (out);
  }

  resumed = run_cli (env, NULL, "batch", pipeline, input, "-o", output, "--concurrency", "4",
                     "--resume", "--quiet", "--json", "--no-cache", NULL);
  assert_status (resumed, 0);
  after = mock_requests (env);

  by_line = read_batch_output (output, n, (const char **) ids);
  for (guint line = 1; line <= n; line++)
    assert_sentiment_output (json_object_get_member (line_object (by_line, line), "output"));
  /* No finished job ran again. */
  g_assert_cmpint (after - before, ==, n - committed);
  summary_node = parse_json (resumed->out);
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (summary_node), "resumed"), ==, committed);
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (summary_node), "ok"), ==, n - committed);
  g_assert_cmpint (db_int (state, "SELECT count(*) FROM jobs"), ==, n);

  /* Without --resume (or --overwrite), an existing batch is not touched. */
  again = run_cli (env, NULL, "batch", pipeline, input, "-o", output, "--quiet", NULL);
  assert_status (again, 2);
  g_assert_nonnull (strstr (again->err, "--resume"));
  g_assert_cmpuint (count_complete_lines (output), ==, n);

  /* --resume over a changed input line that was already finished. */
  {
    g_autoptr(GString) text = g_string_new (NULL);
    g_auto(GStrv) reviews = review_lines ();
    g_autoptr(GPtrArray) unchanged = NULL;

    for (guint i = 0; i < n; i++)
      g_string_append_printf (text, "%s\n",
                              i == 6 ? "{\"custom_id\": \"review-0007\", \"input\": {\"text\": \"Changed after the run.\"}}"
                                     : reviews[i]);
    g_free (env_write (env, "in.jsonl", text->str));

    changed = run_cli (env, NULL, "batch", pipeline, input, "-o", output, "--resume", "--quiet", NULL);
    assert_status (changed, 2);
    g_assert_nonnull (strstr (changed->err, "line 7 differs"));
    g_assert_cmpint (mock_requests (env), ==, after);
    unchanged = read_batch_output (output, n, (const char **) ids);
  }
}

/* ---- 3. Ctrl-C mid-batch, then --resume ------------------------------------------------- */

static void
test_batch_interrupt_then_resume (void)
{
  g_autoptr(Env) env = env_new ();
  g_autofree char *pipeline = sentiment_pipeline ();
  g_autofree char *output = env_path (env, "out.jsonl");
  g_autofree char *state = env_path (env, "out.jsonl.sluice-state");
  g_autofree char *out_path = env_path (env, "batch.out");
  g_autofree char *err_path = env_path (env, "batch.err");
  g_autofree char *out_text = NULL;
  g_autofree char *err_text = NULL;
  g_auto(GStrv) ids = NULL;
  g_autofree char *input = NULL;
  g_autoptr(GSubprocess) batch = NULL;
  g_autoptr(GPtrArray) by_line = NULL;
  g_autoptr(Result) resumed = NULL;
  const guint n = 100;
  const char *jobs_line;
  int ok = -1, failed = -1;
  gint64 committed, before, after, signalled;
  gdouble stop_s;

  input = write_reviews (env, "in.jsonl", n, &ids);
  mock_start (env, "--latency", "100ms", NULL);

  /* --no-cache: a job answered but cut before its line was committed
   * would otherwise be a cache hit on resume, with no provider call. */
  batch = spawn_cli (env, "batch.out", "batch.err",
                     "batch", pipeline, input, "-o", output, "--concurrency", "4",
                     "--grace", "0ms", "--no-cache", NULL);
  wait_for_lines (batch, output, 10, 30);
  signalled = g_get_monotonic_time ();
  g_subprocess_send_signal (batch, SIGINT);
  g_subprocess_wait (batch, NULL, NULL);
  stop_s = (g_get_monotonic_time () - signalled) / (gdouble) G_USEC_PER_SEC;

  out_text = read_text (out_path);
  err_text = read_text (err_path);
  assert_clean_stderr (err_text);
  if (exit_status_of (batch) != 130)
    g_printerr ("--- stdout ---\n%s\n--- stderr ---\n%s\n", out_text, err_text);
  g_assert_cmpint (exit_status_of (batch), ==, 130);
  g_assert_cmpfloat (stop_s, <, 3.0);

  /* The summary is printed, and counts what the state holds. */
  committed = db_int (state, "SELECT count(*) FROM jobs");
  g_assert_cmpint (committed, >=, 10);
  g_assert_cmpint (committed, <, n);
  g_assert_cmpuint (count_complete_lines (output), ==, committed);
  jobs_line = strstr (out_text, "jobs:");
  g_assert_nonnull (jobs_line);
  g_assert_cmpint (sscanf (jobs_line, "jobs: %d ok, %d failed", &ok, &failed), ==, 2);
  g_assert_cmpint (failed, ==, 0);     /* a cancelled job is not a failed one */
  g_assert_cmpint (ok, ==, committed);
  g_assert_nonnull (strstr (out_text, "interrupted (left for --resume)"));
  g_assert_nonnull (strstr (err_text, "--resume"));
  g_assert_cmpint (db_int (state, "SELECT count(*) FROM jobs WHERE ok = 0"), ==, 0);
  g_test_message ("interrupted after %.3f s: %" G_GINT64_FORMAT " jobs committed\n%s",
                  stop_s, committed, out_text);

  before = mock_requests (env);
  resumed = run_cli (env, NULL, "batch", pipeline, input, "-o", output, "--concurrency", "4",
                     "--resume", "--quiet", "--no-cache", NULL);
  assert_status (resumed, 0);
  after = mock_requests (env);

  by_line = read_batch_output (output, n, (const char **) ids);
  for (guint line = 1; line <= n; line++)
    assert_sentiment_output (json_object_get_member (line_object (by_line, line), "output"));
  g_assert_cmpint (after - before, ==, n - committed);
}

/* ---- 4. sluice run: success ------------------------------------------------------------- */

static void
test_run_ok (void)
{
  g_autoptr(Env) env = env_new ();
  g_autofree char *pipeline = sentiment_pipeline ();
  g_autofree char *input_file = NULL;
  g_autofree char *ledger = NULL;
  g_autoptr(Result) inline_run = NULL;
  g_autoptr(Result) file_run = NULL;
  g_autoptr(Result) stdin_run = NULL;
  g_autoptr(JsonNode) output = NULL;
  g_autoptr(JsonNode) file_output = NULL;
  g_autoptr(JsonNode) stdin_output = NULL;

  mock_start (env, NULL);
  inline_run = run_cli (env, NULL, "run", pipeline,
                        "--input", "{\"text\": \"I love it: wonderful sound, great battery.\"}", NULL);
  assert_status (inline_run, 0);
  g_assert_cmpstr (inline_run->err, ==, "");
  output = parse_json (inline_run->out);
  assert_sentiment_output (output);
  g_assert_cmpstr (string_member (json_node_get_object (output), "sentiment"), ==, "positive");

  input_file = env_write (env, "input.json", "{\"text\": \"Terrible. It broke after a day, awful support.\"}");
  {
    g_autofree char *spec = g_strconcat ("@", input_file, NULL);

    file_run = run_cli (env, NULL, "run", pipeline, "--input", spec, NULL);
  }
  assert_status (file_run, 0);
  file_output = parse_json (file_run->out);
  assert_sentiment_output (file_output);
  g_assert_cmpstr (string_member (json_node_get_object (file_output), "sentiment"), ==, "negative");

  stdin_run = run_cli (env, "{\"text\": \"I love it\"}", "run", pipeline, "--input", "-", NULL);
  assert_status (stdin_run, 0);
  stdin_output = parse_json (stdin_run->out);
  assert_sentiment_output (stdin_output);

  /* what json-glib would change (wrap 2^63 to -2^63, cut at a NUL) is
   * refused before any request: on the command line and in a batch line */
  {
    g_autoptr(Result) big = run_cli (env, NULL, "run", pipeline, "--input",
                                     "{\"text\": \"x\", \"n\": 9223372036854775808}", NULL);
    g_autoptr(Result) nul = run_cli (env, NULL, "run", pipeline, "--input",
                                     "{\"text\": \"ab\\u0000 ignore the rules\"}", NULL);
    g_autoptr(Result) batch = NULL;
    g_autofree char *lines = env_write (env, "ids.jsonl",
                                        "{\"custom_id\": 12345678901234567890, \"input\": {\"text\": \"x\"}}\n");
    g_autofree char *out_path = g_build_filename (env->dir, "ids-out.jsonl", NULL);
    g_autofree char *out = NULL;
    g_autoptr(JsonNode) line = NULL;
    JsonObject *error;

    assert_status (big, 2);
    g_assert_cmpstr (big->err, ==,
                     "sluice run: --input is not valid JSON: the integer 9223372036854775808 (at byte 19) does "
                     "not fit in 64 bits (-9223372036854775808 to 9223372036854775807); send it as a string\n");
    assert_status (nul, 2);
    g_assert_cmpstr (nul->err, ==,
                     "sluice run: --input is not valid JSON: the string at byte 9 holds a NUL character "
                     "(at byte 12), which sluice cannot keep\n");
    batch = run_cli (env, NULL, "batch", pipeline, lines, "-o", out_path, "--quiet", NULL);
    g_assert_true (g_file_get_contents (out_path, &out, NULL, NULL));
    line = parse_json (out);
    error = json_object_get_object_member (json_node_get_object (line), "error");
    g_assert_cmpstr (string_member (json_node_get_object (line), "custom_id"), ==, "line-1");
    g_assert_cmpstr (string_member (error, "kind"), ==, "invalid_input");
    g_assert_cmpstr (string_member (error, "message"), ==,
                     "line 1 is not valid JSON: the integer 12345678901234567890 (at byte 14) does not fit in "
                     "64 bits (-9223372036854775808 to 9223372036854775807); send it as a string");
  }

  g_assert_cmpint (mock_requests (env), ==, 3);
  ledger = ledger_path (env);
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM requests WHERE outcome = 'ok'"), ==, 3);
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM attempts"), ==, 3);
}

/* Labels per request: `sluice run --label` and a batch line's "labels"
 * reach the ledger (and so rate-limit keys and budget scopes); a label
 * that is not text fails that job alone. */
static void
test_labels (void)
{
  g_autoptr(Env) env = env_new ();
  g_autofree char *pipeline = sentiment_pipeline ();
  g_autofree char *input = NULL;
  g_autofree char *output = NULL;
  g_autofree char *text = NULL;
  g_autofree char *ledger = NULL;
  g_autoptr(Result) run = NULL;
  g_autoptr(Result) bad = NULL;
  g_autoptr(Result) batch = NULL;
  g_auto(GStrv) lines = NULL;

  mock_start (env, NULL);
  run = run_cli (env, NULL, "run", pipeline, "--label", "user=alice", "-l", "team=ops",
                 "--input", "{\"text\": \"I love it\"}", NULL);
  assert_status (run, 0);
  bad = run_cli (env, NULL, "run", pipeline, "--label", "alice", "--input", "{\"text\": \"x\"}", NULL);
  assert_status (bad, 2);
  g_assert_nonnull (strstr (bad->err, "--label wants KEY=VALUE, not \"alice\""));

  input = env_write (env, "batch.jsonl",
    "{\"custom_id\": \"b\", \"input\": {\"text\": \"great\"}, \"labels\": {\"user\": \"bob\"}}\n"
    "{\"custom_id\": \"n\", \"input\": {\"text\": \"great\"}, \"labels\": {\"user\": 7}}\n"
    "{\"custom_id\": \"p\", \"input\": {\"text\": \"great\"}, \"labels\": [\"user\"]}\n"
    "{\"custom_id\": \"c\", \"input\": {\"text\": \"great\"}}\n");
  output = env_path (env, "out.jsonl");
  /* b and c are the same request: without the cache each is a call. */
  batch = run_cli (env, NULL, "batch", pipeline, input, "-o", output, "--quiet", "--no-cache", NULL);
  assert_status (batch, 1);
  text = read_text (output);
  lines = g_strsplit (g_strstrip (text), "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 4);
  for (guint i = 0; i < 4; i++)
    {
      g_autoptr(JsonNode) node = parse_json (lines[i]);
      JsonObject *line = json_node_get_object (node);
      const char *id = string_member (line, "custom_id");
      JsonObject *error = json_object_has_member (line, "error")
        ? json_object_get_object_member (line, "error") : NULL;

      if (g_str_equal (id, "n") || g_str_equal (id, "p"))
        {
          g_assert_nonnull (error);
          g_assert_cmpstr (string_member (error, "kind"), ==, "invalid_input");
          g_assert_nonnull (strstr (string_member (error, "message"),
                                    g_str_equal (id, "n") ? "line 2: label \"user\" must be a string"
                                                          : "line 3: \"labels\" must be an object of strings"));
        }
      else
        g_assert_null (error);
    }

  ledger = ledger_path (env);
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM requests WHERE json_extract(labels, '$.user') = 'alice' "
                                   "AND json_extract(labels, '$.team') = 'ops'"), ==, 1);
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM requests WHERE json_extract(labels, '$.user') = 'bob' "
                                   "AND json_extract(labels, '$.job') = 'b'"), ==, 1);
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM requests WHERE json_extract(labels, '$.user') IS NULL"), ==, 3);
  g_assert_cmpint (mock_requests (env), ==, 3);
}

/* `sluice snapshot`: the first run writes the rendered request, a later
 * one matches it, a prompt change shows as a diff and exits 1, --update
 * accepts it. Nothing is sent, nothing reaches the ledger, and the key
 * is masked. */
static void
test_snapshot (void)
{
  g_autoptr(Env) env = env_new ();
  g_autofree char *original = sentiment_pipeline ();
  g_autofree char *source = read_text (original);
  g_autofree char *pipeline = env_write (env, "sentiment.yaml", source);
  g_autofree char *input = env_write (env, "review.json", "{\"text\": \"Great battery, awful screen.\"}");
  g_autofree char *snap = env_path (env, "__snapshots__/sentiment-review.snap");
  g_autofree char *stored = NULL;
  g_autoptr(GString) changed = g_string_new (source);
  g_autoptr(Result) first = NULL;
  g_autoptr(Result) again = NULL;
  g_autoptr(Result) diff = NULL;
  g_autoptr(Result) update = NULL;
  g_autoptr(Result) ci = NULL;
  g_autoptr(JsonNode) node = NULL;
  JsonObject *request;

  mock_start (env, NULL);
  first = run_cli (env, NULL, "snapshot", pipeline, input, NULL);
  assert_status (first, 0);
  g_assert_nonnull (strstr (first->out, "snapshot written: "));
  stored = read_text (snap);
  g_assert_null (strstr (stored, PLAIN_KEY));
  node = parse_json (stored);
  request = json_object_get_object_member (json_node_get_object (node), "request");
  g_assert_cmpstr (string_member (request, "path"), ==, "/chat/completions");
  g_assert_cmpstr (string_member (json_object_get_object_member (request, "headers"), "Authorization"), ==, "[secret]");
  g_assert_cmpstr (string_member (json_object_get_object_member (request, "body"), "model"), ==, "gpt-4o-mini");
  g_assert_nonnull (strstr (stored, "\"content\": \"Great battery, awful screen.\""));
  /* structured_output auto picks prompt mode here: the instruction is part of the request */
  g_assert_nonnull (strstr (stored, "Reply with only a JSON value that follows this JSON Schema"));

  again = run_cli (env, NULL, "snapshot", pipeline, input, NULL);
  assert_status (again, 0);
  g_assert_nonnull (strstr (again->out, "snapshot matches: "));

  g_assert_cmpint (g_string_replace (changed, "You classify the sentiment", "You classify the overall sentiment", 1), ==, 1);
  g_assert_true (g_file_set_contents (pipeline, changed->str, -1, NULL));
  diff = run_cli (env, NULL, "snapshot", pipeline, input, NULL);
  assert_status (diff, 1);
  g_assert_nonnull (strstr (diff->out, "-          \"content\": \"You classify the sentiment"));
  g_assert_nonnull (strstr (diff->out, "+          \"content\": \"You classify the overall sentiment"));
  g_assert_nonnull (strstr (diff->err, "run with --update to accept it"));

  update = run_cli (env, NULL, "snapshot", pipeline, input, "--update", NULL);
  assert_status (update, 0);
  g_free (stored);
  stored = read_text (snap);
  g_assert_nonnull (strstr (stored, "You classify the overall sentiment"));

  ci = run_cli (env, NULL, "snapshot", "--ci", pipeline, input, "--snapshot", "elsewhere.snap", NULL);
  assert_status (ci, 1);
  g_assert_nonnull (strstr (ci->err, "elsewhere.snap does not exist"));

  /* The key in the input and personal data under sanitize: restore,
   * the snapshot shows what would be sent (placeholders) and no key. */
  {
    g_autoptr(GString) restoring = g_string_new (changed->str);
    g_autofree char *keyed = env_write (env, "keyed.json",
                                        "{\"text\": \"mail bob@example.com, key " PLAIN_KEY "\"}");
    g_autoptr(Result) masked = NULL;
    g_autofree char *masked_text = NULL;

    g_assert_cmpint (g_string_replace (restoring, "sanitize: {fields: [text]}",
                                       "sanitize: {fields: [text], restore: true}", 1), ==, 1);
    g_assert_true (g_file_set_contents (pipeline, restoring->str, -1, NULL));
    masked = run_cli (env, NULL, "snapshot", pipeline, keyed, "--snapshot", "masked.snap", NULL);
    assert_status (masked, 0);
    {
      g_autofree char *masked_path = env_path (env, "masked.snap");

      masked_text = read_text (masked_path);
    }
    g_assert_null (strstr (masked_text, PLAIN_KEY));
    {
      /* the input file is the user's own; the request holds placeholders */
      g_autoptr(JsonNode) snap = parse_json (masked_text);
      JsonObject *request = json_object_get_object_member (json_node_get_object (snap), "request");
      g_autofree char *body = sluice_json_to_string (json_object_get_member (request, "body"));

      g_assert_null (strstr (body, "bob@example.com"));
      g_assert_nonnull (strstr (body, "mail [EMAIL_1], key [redacted]"));
    }
  }
  /* Only the key itself is masked: not Markdown's asterisks, not a word
   * that starts like the key (the prompt must stay the prompt). */
  {
    g_autofree char *lookalike = env_write (env, "lookalike.json", "{\"text\": \"**Great** sk-test-ish gadget\"}");
    g_autoptr(Result) kept = run_cli (env, NULL, "snapshot", pipeline, lookalike, "--snapshot", "lookalike.snap", NULL);
    g_autofree char *kept_path = env_path (env, "lookalike.snap");
    g_autofree char *kept_text = NULL;

    assert_status (kept, 0);
    kept_text = read_text (kept_path);
    g_assert_nonnull (strstr (kept_text, "\"content\": \"**Great** sk-test-ish gadget\""));
  }

  g_assert_cmpint (mock_requests (env), ==, 0);
  {
    g_autofree char *ledger = ledger_path (env);

    g_assert_false (g_file_test (ledger, G_FILE_TEST_EXISTS) &&
                    db_int (ledger, "SELECT count(*) FROM requests") > 0);
  }
}

/* The `schemas:` block: `format` asserts when asked, and remote `$ref`s
 * resolve from a local folder, never the network. */
static void
test_schemas_block (void)
{
  g_autoptr(Env) env = env_new ();
  g_autofree char *folder = env_path (env, "schemas");
  g_autofree char *person = NULL;
  g_autofree char *pipeline = NULL;
  g_autoptr(Result) bad_date = NULL;
  g_autoptr(Result) good = NULL;
  g_autoptr(Result) missing = NULL;

  g_assert_cmpint (g_mkdir (folder, 0755), ==, 0);
  person = env_write (env, "schemas/person.json",
                      "{\"type\": \"object\", \"required\": [\"born\"],"
                      " \"properties\": {\"born\": {\"type\": \"string\", \"format\": \"date\"}}}");
  pipeline = env_write (env, "p.yaml",
                        "name: fmt\n"
                        "schemas:\n"
                        "  formats: assert\n"
                        "  registry: {\"https://example.com/schemas/\": schemas}\n"
                        "input: {$ref: \"https://example.com/schemas/person.json\"}\n"
                        "stages:\n"
                        "  - validate-input: {}\n"
                        "  - assemble: {user: \"{{born}}\"}\n");
  bad_date = run_cli (env, NULL, "run", pipeline, "--input", "{\"born\": \"2020-02-30\"}", NULL);
  assert_status (bad_date, 1);
  g_assert_nonnull (strstr (bad_date->out, "/born: string is not a valid date"));
  good = run_cli (env, NULL, "run", pipeline, "--input", "{\"born\": \"2020-02-28\"}", NULL);
  assert_status (good, 0);

  g_assert_true (g_file_set_contents (pipeline,
                                      "name: fmt\n"
                                      "schemas: {registry: {\"https://example.com/schemas/\": nowhere}}\n"
                                      "input: {$ref: \"https://example.com/schemas/person.json\"}\n"
                                      "stages:\n"
                                      "  - validate-input: {}\n", -1, NULL));
  missing = run_cli (env, NULL, "check", pipeline, NULL);
  assert_status (missing, 1);
  g_assert_nonnull (strstr (missing->err, "p.yaml:2:22: error: schema folder nowhere does not exist or is not a folder"));
  g_assert_nonnull (strstr (missing->err, "cannot be resolved: no document is registered"));
}

/* A name in a stage's configuration that the closed input schema cannot
 * hold is a check error: a misspelt sanitize field would let personal
 * data through, a misspelt history would drop the conversation, a
 * misspelt truncate variable would show only when a prompt overflows. */
static void
test_misspelt_input_names (void)
{
  g_autoptr(Env) env = env_new ();
  static const struct { const char *stage, *expected; } cases[] = {
    { "  - sanitize: {fields: [txt]}\n",
      "stage 'sanitize': fields: 'txt' is not in the input schema (it declares text, turns)" },
    { "  - assemble: {user: \"{{text}}\", history: chats}\n",
      "stage 'assemble': history: 'chats' is not in the input schema (it declares text, turns)" },
    { "  - assemble: {user: \"{{text}}\"}\n"
      "  - context-check: {model: gpt-4o-mini, on_overflow: truncate, truncate: {variable: txt}}\n",
      "stage 'context-check': truncate: 'txt' is not in the input schema (it declares text, turns)" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *yaml = g_strconcat ("name: n\n"
                                           "input: {type: object, additionalProperties: false,\n"
                                           "        properties: {text: {type: string}, turns: {type: array}}}\n"
                                           "stages:\n", cases[i].stage, NULL);
      g_autofree char *pipeline = env_write (env, "p.yaml", yaml);
      g_autoptr(Result) check = run_cli (env, NULL, "check", pipeline, NULL);

      assert_status (check, 1);
      g_assert_nonnull (strstr (check->err, cases[i].expected));
    }
}

/* Built-in stages out of order are check errors, each at its stage. */
static void
test_stage_order (void)
{
  g_autoptr(Env) env = env_new ();
  g_autofree char *pipeline = env_write (env, "o.yaml",
    "name: o\n"
    "stages:\n"
    "  - parse: {}\n"
    "  - token-count: {model: gpt-4o-mini}\n"
    "  - assemble: {user: hi}\n"
    "  - call: {target: {provider: openai, model: gpt-4o-mini, api_key: kkkkkkkkkk}}\n"
    "  - sanitize: {}\n");
  g_autoptr(Result) check = run_cli (env, NULL, "check", pipeline, NULL);

  assert_status (check, 1);
  g_assert_nonnull (strstr (check->err, "o.yaml:3:5: error: stage 'parse' must come after the call stage (stage 4)"));
  g_assert_nonnull (strstr (check->err, "o.yaml:4:5: error: stage 'token-count' must come after the assemble stage (stage 3)"));
  g_assert_nonnull (strstr (check->err, "o.yaml:7:5: error: stage 'sanitize' must come before the call stage (stage 4)"));
}

/* OpenAI Batch lines whose messages a provider would refuse fail alone,
 * as invalid_input naming the message, before any request. */
static void
test_batch_bad_messages (void)
{
  g_autoptr(Env) env = env_new ();
  g_autofree char *pipeline = env_write (env, "ob.yaml",
    "name: ob\n"
    "stages:\n"
    "  - call: {target: {provider: openai, model: gpt-4o-mini, base_url: \"${SLUICE_BASE_URL}\", api_key: \"${SLUICE_API_KEY}\"}}\n");
  g_autofree char *input = env_write (env, "ob.jsonl",
    "{\"custom_id\": \"a\", \"body\": {\"messages\": \"nope\"}}\n"
    "{\"custom_id\": \"b\", \"body\": {\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, 5]}}\n");
  g_autofree char *output = env_path (env, "ob.out");
  g_autoptr(Result) batch = NULL;
  g_autofree char *text = NULL;

  mock_start (env, NULL);
  batch = run_cli (env, NULL, "batch", pipeline, input, "-o", output, "--quiet", NULL);
  assert_status (batch, 1);
  text = read_text (output);
  g_assert_nonnull (strstr (text, "\"message\":\"line 1: body.messages must be an array of {role, content}\""));
  g_assert_nonnull (strstr (text, "\"message\":\"line 2: body.messages[1] must be an object whose role is "
                                  "system, developer, user, assistant or tool\""));
  g_assert_cmpint (mock_requests (env), ==, 0);
}

/* ---- 5. sluice run: every attempt fails the same way ---------------------------------- */

static void
check_always (const char *answer,
              const char *expected_kind,
              gint64      expected_status)
{
  g_autoptr(Env) env = env_new ();
  g_autofree char *scenario_json = g_strdup_printf ("{\"rules\": [{\"then\": \"%s\"}]}", answer);
  g_autofree char *scenario = env_write (env, "scenario.json", scenario_json);
  g_autofree char *pipeline = write_pipeline (env, "retry3.yaml", "5s", 3);
  g_autoptr(Result) result = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *error;
  JsonArray *attempts;

  mock_start (env, "--scenario", scenario, NULL);
  result = run_cli (env, NULL, "run", pipeline, "--input", "{\"text\": \"I love it\"}", NULL);
  assert_status (result, 1);

  root = parse_json (result->out);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
  g_assert_cmpuint (json_object_get_size (json_node_get_object (root)), ==, 1);
  error = json_object_get_object_member (json_node_get_object (root), "error");
  g_assert_nonnull (error);
  g_assert_cmpstr (assert_structured_error (error), ==, expected_kind);
  g_assert_cmpstr (string_member (error, "stage"), ==, "call");
  attempts = json_object_get_array_member (error, "attempts");
  g_assert_cmpuint (json_array_get_length (attempts), ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      JsonObject *attempt = json_array_get_object_element (attempts, i);
      gint64 status = 0, index = -1;

      g_assert_true (int_member (attempt, "http_status", &status));
      g_assert_cmpint (status, ==, expected_status);
      g_assert_cmpstr (string_member (attempt, "outcome"), ==, "error");
      g_assert_cmpstr (string_member (attempt, "error_kind"), ==, expected_kind);
      g_assert_true (int_member (attempt, "index", &index));
      g_assert_cmpint (index, ==, i);
    }
  g_assert_nonnull (strstr (result->err, expected_kind));
  g_assert_cmpint (mock_requests (env), ==, 3);
}

static void
test_run_always_html (void)
{
  /* A 502 with an HTML page from a gateway is a server error: the status
   * says what happened; the body is the gateway's, not the provider's. */
  check_always ("html", "server", 502);
}

static void
test_run_always_malformed (void)
{
  check_always ("malformed", "malformed", 200);
}

/* ---- 6. a hanging provider is cut by the attempt timeout -------------------------------- */

static void
test_run_hang_times_out (void)
{
  g_autoptr(Env) env = env_new ();
  g_autofree char *scenario = env_write (env, "scenario.json", "{\"rules\": [{\"then\": \"hang\"}]}");
  g_autofree char *pipeline = write_pipeline (env, "hang.yaml", "300ms", 2);
  g_autoptr(Result) result = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *error;
  JsonArray *attempts;

  mock_start (env, "--scenario", scenario, "--hang", "20s", NULL);
  result = run_cli (env, NULL, "run", pipeline, "--input", "{\"text\": \"I love it\"}", NULL);
  assert_status (result, 1);
  g_assert_cmpfloat (result->elapsed_s, <, 3.0);
  g_assert_cmpfloat (result->elapsed_s, >=, 0.6);   /* two attempts of 300 ms */

  root = parse_json (result->out);
  error = json_object_get_object_member (json_node_get_object (root), "error");
  g_assert_nonnull (error);
  g_assert_cmpstr (assert_structured_error (error), ==, "timeout");
  attempts = json_object_get_array_member (error, "attempts");
  g_assert_cmpuint (json_array_get_length (attempts), ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      JsonObject *attempt = json_array_get_object_element (attempts, i);
      gint64 latency = 0;

      g_assert_cmpstr (string_member (attempt, "error_kind"), ==, "timeout");
      g_assert_false (json_object_has_member (attempt, "http_status"));
      g_assert_true (int_member (attempt, "latency_ms", &latency));
      g_assert_cmpint (latency, >=, 290);
      g_assert_cmpint (latency, <, 1500);
    }
  g_assert_cmpint (mock_requests (env), ==, 2);
}

/* ---- 7. 429 with Retry-After, then an answer ------------------------------------------- */

static void
test_run_rate_limit_retry_after (void)
{
  g_autoptr(Env) env = env_new ();
  g_autofree char *scenario = env_write (env, "scenario.json",
    "{\"rules\": [{\"sequence\": [{\"kind\": \"rate_limit\", \"retry_after\": \"1\"}, "
    "{\"kind\": \"ok\"}], \"then\": \"ok\"}]}");
  g_autofree char *pipeline = sentiment_pipeline ();
  g_autofree char *ledger = NULL;
  g_autoptr(Result) result = NULL;
  g_autoptr(JsonNode) output = NULL;
  g_autoptr(JsonArray) rows = NULL;
  g_autoptr(JsonArray) requests = NULL;
  JsonObject *first, *second;
  gint64 value = 0;

  mock_start (env, "--scenario", scenario, NULL);
  result = run_cli (env, NULL, "run", pipeline, "--input", "{\"text\": \"I love it\"}", NULL);
  assert_status (result, 0);
  output = parse_json (result->out);
  assert_sentiment_output (output);
  g_assert_cmpint (mock_requests (env), ==, 2);

  ledger = ledger_path (env);
  requests = db_query (ledger, "SELECT request_id, outcome, attempts FROM requests");
  g_assert_cmpuint (json_array_get_length (requests), ==, 1);
  g_assert_cmpstr (string_member (json_array_get_object_element (requests, 0), "outcome"), ==, "ok");
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (requests, 0), "attempts"), ==, 2);

  rows = db_query (ledger, "SELECT a.attempt, a.outcome, a.error_kind, a.http_status, a.delay_ms "
                           "FROM attempts a JOIN requests r ON a.request_id = r.request_id "
                           "ORDER BY a.attempt");
  g_assert_cmpuint (json_array_get_length (rows), ==, 2);
  first = json_array_get_object_element (rows, 0);
  second = json_array_get_object_element (rows, 1);
  g_assert_cmpstr (string_member (first, "outcome"), ==, "error");
  g_assert_cmpstr (string_member (first, "error_kind"), ==, "rate_limited");
  g_assert_true (int_member (first, "http_status", &value));
  g_assert_cmpint (value, ==, 429);
  g_assert_cmpstr (string_member (second, "outcome"), ==, "ok");
  g_assert_true (int_member (second, "http_status", &value));
  g_assert_cmpint (value, ==, 200);
  /* Retry-After: 1 was waited for, not the shorter backoff. */
  g_assert_true (int_member (second, "delay_ms", &value));
  g_assert_cmpint (value, >=, 1000);
  g_assert_cmpfloat (result->elapsed_s, >=, 1.0);
}

/* ---- 8. usage, pipeline and input problems ------------------------------------------- */

/* "path:LINE:COL: " where the first ${VAR} reference sits in the file. */
static char *
position_of (const char *path,
             const char *needle)
{
  g_autofree char *contents = read_text (path);
  g_auto(GStrv) lines = g_strsplit (contents, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *at = strstr (lines[i], needle);

      if (at != NULL)
        return g_strdup_printf ("%s:%u:%u: ", path, i + 1, (guint) (at - lines[i]) + 1);
    }
  g_assert_not_reached ();
}

static void
test_usage_errors (void)
{
  g_autoptr(Env) env = env_new ();
  g_autofree char *pipeline = sentiment_pipeline ();
  g_autofree char *key_position = position_of (pipeline, "\"${SLUICE_API_KEY}\"");
  g_autofree char *bad_yaml = env_write (env, "bad.yaml",
                                         "name: bad\n"
                                         "stages:\n"
                                         "  - validate-input: {}\n"
                                         "  - parse: {format: json\n"
                                         "  - log: {sinks: [sqlite]}\n");
  g_autofree char *unknown_stage = env_write (env, "unknown.yaml",
                                              "name: unknown\n"
                                              "stages:\n"
                                              "  - validate-input: {}\n"
                                              "  - frobnicate: {}\n");
  g_autofree char *missing_pipeline = env_path (env, "no-such-pipeline.yaml");
  g_autofree char *missing_input = env_path (env, "no-such-input.jsonl");
  g_autofree char *output = env_path (env, "out.jsonl");
  g_autofree char *unknown_position = g_strdup_printf ("%s:4:5: ", unknown_stage);
  g_autoptr(Result) no_key = NULL;
  g_autoptr(Result) no_key_check = NULL;
  g_autoptr(Result) no_file = NULL;
  g_autoptr(Result) yaml = NULL;
  g_autoptr(Result) stage = NULL;
  g_autoptr(Result) not_json = NULL;
  g_autoptr(Result) no_input = NULL;
  g_autoptr(Result) check_good = NULL;
  g_autoptr(Result) check_bad = NULL;
  g_autoptr(Result) check_both = NULL;
  g_autoptr(GRegex) yaml_position = NULL;

  /* The key is unset: named, with its position in the file. */
  g_clear_pointer (&env->api_key, g_free);
  no_key = run_cli (env, NULL, "run", pipeline, "--input", "{\"text\": \"hi\"}", NULL);
  assert_status (no_key, 2);
  g_assert_nonnull (strstr (no_key->err, "SLUICE_API_KEY"));
  g_assert_nonnull (strstr (no_key->err, key_position));
  g_assert_cmpstr (no_key->out, ==, "");
  no_key_check = run_cli (env, NULL, "check", pipeline, NULL);
  assert_status (no_key_check, 1);
  g_assert_nonnull (strstr (no_key_check->err, key_position));
  env->api_key = g_strdup (PLAIN_KEY);

  no_file = run_cli (env, NULL, "run", missing_pipeline, "--input", "{\"text\": \"hi\"}", NULL);
  assert_status (no_file, 2);
  g_assert_nonnull (strstr (no_file->err, missing_pipeline));

  yaml = run_cli (env, NULL, "run", bad_yaml, "--input", "{\"text\": \"hi\"}", NULL);
  assert_status (yaml, 2);
  yaml_position = g_regex_new ("bad\\.yaml:[0-9]+:[0-9]+: ", 0, 0, NULL);
  if (!g_regex_match (yaml_position, yaml->err, 0, NULL))
    g_printerr ("stderr: %s\n", yaml->err);
  g_assert_true (g_regex_match (yaml_position, yaml->err, 0, NULL));

  stage = run_cli (env, NULL, "run", unknown_stage, "--input", "{\"text\": \"hi\"}", NULL);
  assert_status (stage, 2);
  g_assert_nonnull (strstr (stage->err, unknown_position));
  g_assert_nonnull (strstr (stage->err, "unknown stage 'frobnicate'"));
  g_assert_nonnull (strstr (stage->err, "known: "));
  for (guint i = 0; i < 6; i++)
    {
      static const char * const known[] = { "assemble", "call", "log", "parse", "validate,", "validate-input" };
      g_assert_nonnull (strstr (stage->err, known[i]));
    }

  not_json = run_cli (env, NULL, "run", pipeline, "--input", "{\"text\": ", NULL);
  assert_status (not_json, 2);
  g_assert_nonnull (strstr (not_json->err, "--input is not valid JSON"));
  g_assert_cmpstr (not_json->out, ==, "");

  no_input = run_cli (env, NULL, "batch", pipeline, missing_input, "-o", output, NULL);
  assert_status (no_input, 2);
  g_assert_nonnull (strstr (no_input->err, "no-such-input.jsonl"));
  g_assert_false (g_file_test (output, G_FILE_TEST_EXISTS));

  check_good = run_cli (env, NULL, "check", pipeline, NULL);
  assert_status (check_good, 0);
  g_assert_nonnull (strstr (check_good->out, ": ok"));
  check_bad = run_cli (env, NULL, "check", unknown_stage, NULL);
  assert_status (check_bad, 1);
  g_assert_nonnull (strstr (check_bad->err, unknown_position));
  check_both = run_cli (env, NULL, "check", pipeline, bad_yaml, NULL);
  assert_status (check_both, 1);
  g_assert_nonnull (strstr (check_both->out, ": ok"));
  g_assert_true (g_regex_match (yaml_position, check_both->err, 0, NULL));

  /* Last, as the known failure: one cause, and no invented follow-on (the
   * file does have a call stage; it is only unconfigured). */
  if (strstr (no_key->err, "needs a call stage") != NULL)
    g_printerr ("--- stderr with SLUICE_API_KEY unset ---\n%s---\n", no_key->err);
  g_assert_null (strstr (no_key->err, "needs a call stage"));
}

/* ---- 9. the API key never leaves the environment --------------------------------------- */

static void
assert_no_secret_in (const char *what,
                     const char *data,
                     gsize       length)
{
  if (data != NULL && memmem (data, length, SECRET_KEY, strlen (SECRET_KEY)) != NULL)
    {
      g_printerr ("the API key appears in %s\n", what);
      g_assert_not_reached ();
    }
}

static guint
assert_no_secret_in_tree (const char *path)
{
  guint n_files = 0;

  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
      const char *name;

      g_assert_nonnull (dir);
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          n_files += assert_no_secret_in_tree (child);
        }
      return n_files;
    }

  {
    g_autofree char *contents = NULL;
    gsize length = 0;

    g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
    assert_no_secret_in (path, contents, length);
    return 1;
  }
}

static void
test_secrets (void)
{
  g_autoptr(Env) env = env_new ();
  g_autofree char *pipeline = sentiment_pipeline ();
  g_autofree char *output = env_path (env, "out.jsonl");
  g_autofree char *state = env_path (env, "out.jsonl.sluice-state");
  g_autofree char *ledger = ledger_path (env);
  g_auto(GStrv) ids = NULL;
  g_autofree char *input = NULL;
  g_autoptr(Result) denied = NULL;
  g_autoptr(Result) batch = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GPtrArray) by_line = NULL;
  JsonObject *error;

  g_free (env->api_key);
  env->api_key = g_strdup (SECRET_KEY);
  input = write_reviews (env, "in.jsonl", 10, &ids);

  /* A provider that refuses the key. */
  mock_start (env, "--require-key", "other", NULL);
  denied = run_cli (env, NULL, "run", pipeline, "--input", "{\"text\": \"I love it\"}", NULL);
  assert_status (denied, 1);
  root = parse_json (denied->out);
  error = json_object_get_object_member (json_node_get_object (root), "error");
  g_assert_nonnull (error);
  g_assert_cmpstr (assert_structured_error (error), ==, "auth");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (error, "attempts")), ==, 1);
  assert_no_secret_in ("run's stdout", denied->out, strlen (denied->out));
  assert_no_secret_in ("run's stderr", denied->err, strlen (denied->err));
  mock_stop (env);

  /* A provider that echoes the key in its error message (OpenAI does). */
  {
    g_autofree char *scenario = env_write (env, "scenario.json",
      "{\"rules\": [{\"then\": {\"kind\": \"status\", \"status\": 401, \"body\": "
      "\"{\\\"error\\\": {\\\"message\\\": \\\"Incorrect API key provided: " SECRET_KEY ". "
      "You can find your API key at https://platform.openai.com/account/api-keys.\\\", "
      "\\\"type\\\": \\\"invalid_request_error\\\", \\\"code\\\": \\\"invalid_api_key\\\"}}\"}}]}");
    g_autoptr(Result) echoed = NULL;
    g_autoptr(JsonNode) echoed_root = NULL;
    JsonObject *echoed_error;

    mock_start (env, "--scenario", scenario, NULL);
    echoed = run_cli (env, NULL, "run", pipeline, "--input", "{\"text\": \"I love it\"}", NULL);
    assert_status (echoed, 1);
    echoed_root = parse_json (echoed->out);
    echoed_error = json_object_get_object_member (json_node_get_object (echoed_root), "error");
    g_assert_nonnull (echoed_error);
    g_assert_cmpstr (assert_structured_error (echoed_error), ==, "auth");
    g_assert_nonnull (strstr (string_member (echoed_error, "message"), "Incorrect API key provided"));
    assert_no_secret_in ("run's stdout (echoed key)", echoed->out, strlen (echoed->out));
    assert_no_secret_in ("run's stderr (echoed key)", echoed->err, strlen (echoed->err));
    mock_stop (env);
    /* The scenario itself holds the key; it is not the product's output. */
    g_assert_cmpint (g_unlink (scenario), ==, 0);
  }

  /* A model that echoes the key in its answer: neither a good answer
   * nor a rejected one (its raw_output, its violations) carries it. */
  {
    g_autofree char *scenario = env_write (env, "scenario.json",
      "{\"rules\": [{\"match\": \"ECHO-BAD\", \"then\": {\"kind\": \"ok\", \"content\": "
      "\"{\\\"sentiment\\\": \\\"mixed " SECRET_KEY "\\\", \\\"confidence\\\": 2, "
      "\\\"" SECRET_KEY "\\\": 1, \\\"reasoning\\\": \\\"" SECRET_KEY "\\\"}\"}},"
      " {\"then\": {\"kind\": \"ok\", \"content\": \"{\\\"sentiment\\\": \\\"positive\\\", "
      "\\\"confidence\\\": 0.9, \\\"reasoning\\\": \\\"my key is " SECRET_KEY "\\\"}\"}}]}");
    g_autoptr(Result) bad = NULL;
    g_autoptr(Result) good = NULL;
    g_autoptr(JsonNode) bad_root = NULL;
    g_autoptr(JsonNode) good_root = NULL;
    JsonObject *bad_error;

    mock_start (env, "--scenario", scenario, NULL);
    bad = run_cli (env, NULL, "run", pipeline, "--input", "{\"text\": \"ECHO-BAD\"}", NULL);
    assert_status (bad, 1);
    bad_root = parse_json (bad->out);
    bad_error = json_object_get_object_member (json_node_get_object (bad_root), "error");
    g_assert_cmpstr (assert_structured_error (bad_error), ==, "validation");
    g_assert_nonnull (strstr (string_member (bad_error, "raw_output"), "mixed [redacted]"));
    assert_no_secret_in ("a rejected echo's stdout", bad->out, strlen (bad->out));
    assert_no_secret_in ("a rejected echo's stderr", bad->err, strlen (bad->err));
    good = run_cli (env, NULL, "run", pipeline, "--input", "{\"text\": \"I love it\"}", NULL);
    assert_status (good, 0);
    good_root = parse_json (good->out);
    g_assert_cmpstr (string_member (json_node_get_object (good_root), "reasoning"), ==, "my key is [redacted]");
    assert_no_secret_in ("a good echo's stdout", good->out, strlen (good->out));
    mock_stop (env);
    g_assert_cmpint (g_unlink (scenario), ==, 0);
  }

  /* A provider that takes it, for a batch. */
  mock_start (env, NULL);
  batch = run_cli (env, NULL, "batch", pipeline, input, "-o", output, "--quiet", NULL);
  assert_status (batch, 0);
  by_line = read_batch_output (output, 10, (const char **) ids);
  assert_no_secret_in ("batch's stdout", batch->out, strlen (batch->out));
  assert_no_secret_in ("batch's stderr", batch->err, strlen (batch->err));

  /* Every byte written: the output, the state DB and the ledger, with
   * their -wal and -shm files. */
  g_assert_true (g_file_test (state, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (ledger, G_FILE_TEST_EXISTS));
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM requests"), ==, 14);
  g_assert_cmpuint (assert_no_secret_in_tree (env->dir), >=, 4);
}

/* ---- 10. --version and --help ------------------------------------------------------------ */

static void
test_version_and_help (void)
{
  g_autoptr(Env) env = env_new ();
  static const char * const commands[] = { "run", "batch", "check" };
  g_autoptr(Result) version = run_cli (env, NULL, "--version", NULL);
  g_autoptr(Result) help = run_cli (env, NULL, "--help", NULL);
  g_autoptr(Result) nothing = run_cli (env, NULL, NULL);

  assert_status (version, 0);
  g_assert_true (g_str_has_prefix (version->out, "sluice "));
  g_assert_true (g_regex_match_simple ("^sluice [0-9]+\\.[0-9]+\\.[0-9]+\n$", version->out, 0, 0));
  assert_status (help, 0);
  g_assert_nonnull (strstr (help->out, "Usage:"));
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    g_assert_nonnull (strstr (help->out, commands[i]));
  assert_status (nothing, 2);

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_autoptr(Result) sub = run_cli (env, NULL, commands[i], "--help", NULL);

      assert_status (sub, 0);
      g_assert_nonnull (strstr (sub->out, "Usage:"));
      g_assert_nonnull (strstr (sub->out, commands[i]));
    }
  {
    g_autoptr(Result) batch_help = run_cli (env, NULL, "batch", "--help", NULL);

    g_assert_nonnull (strstr (batch_help->out, "--resume"));
    g_assert_nonnull (strstr (batch_help->out, "--concurrency"));
  }
}

/* ---- main ---------------------------------------------------------------------------- */

/* The output may not be the input (even through a link) nor a device, a
 * second batch on the same output is refused while the first runs, and
 * --resume does not truncate an output it has no state for. */
static void
test_batch_output_safety (void)
{
  g_autoptr(Env) env = env_new ();
  g_autofree char *pipeline = sentiment_pipeline ();
  g_autofree char *input = env_write (env, "in.jsonl", "{\"custom_id\": \"a\", \"input\": {\"text\": \"hi\"}}\n");
  g_autofree char *link = env_path (env, "link.jsonl");
  g_autofree char *other = env_write (env, "other.jsonl", "precious\n");
  g_autofree char *output = env_path (env, "out.jsonl");
  g_autofree char *text = NULL;
  g_autoptr(GSubprocess) first = NULL;

  g_assert_cmpint (symlink (input, link), ==, 0);
  mock_start (env, NULL);

  {
    g_autoptr(Result) same = run_cli (env, NULL, "batch", pipeline, input, "-o", input, "--overwrite", NULL);
    g_autoptr(Result) linked = run_cli (env, NULL, "batch", pipeline, input, "-o", link, "--resume", NULL);
    g_autoptr(Result) device = run_cli (env, NULL, "batch", pipeline, input, "-o", "/dev/null", "--overwrite", NULL);
    g_autoptr(Result) stateless = run_cli (env, NULL, "batch", pipeline, input, "-o", other, "--resume", NULL);

    assert_status (same, 2);
    g_assert_nonnull (strstr (same->err, "is the same file as"));
    assert_status (linked, 2);
    g_assert_nonnull (strstr (linked->err, "is the same file as"));
    assert_status (device, 2);
    g_assert_nonnull (strstr (device->err, "is not a regular file"));
    assert_status (stateless, 2);
    g_assert_nonnull (strstr (stateless->err, "no batch state"));
  }
  text = read_text (input);
  g_assert_cmpstr (text, ==, "{\"custom_id\": \"a\", \"input\": {\"text\": \"hi\"}}\n");
  g_clear_pointer (&text, g_free);
  text = read_text (other);
  g_assert_cmpstr (text, ==, "precious\n");
  g_assert_true (g_file_test ("/dev/null", G_FILE_TEST_EXISTS));

  /* a batch that waits (the input is a pipe that stays open) holds the lock */
  {
    g_autoptr(GSubprocessLauncher) launcher = cli_launcher (env, G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                                                 G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                                                 G_SUBPROCESS_FLAGS_STDERR_SILENCE);
    g_autoptr(GError) error = NULL;
    g_autoptr(Result) second = NULL;
    const char *argv[] = { g_getenv ("SLUICE_CLI"), "batch", pipeline, "-", "-o", output, "--quiet", NULL };

    first = g_subprocess_launcher_spawnv (launcher, argv, &error);
    g_assert_no_error (error);
    for (guint i = 0; i < 100 && !g_file_test (output, G_FILE_TEST_EXISTS); i++)
      g_usleep (20000);
    second = run_cli (env, NULL, "batch", pipeline, input, "-o", output, "--resume", NULL);
    assert_status (second, 2);
    g_assert_nonnull (strstr (second->err, "another sluice batch is writing"));
    g_subprocess_force_exit (first);
    g_subprocess_wait (first, NULL, NULL);
  }
}

/* A Retry-After of a day is not waited for: the request fails at once
 * with the provider's 429 (retry.max_retry_after, default 2m). */
static void
test_run_retry_after_too_long (void)
{
  g_autoptr(Env) env = env_new ();
  g_autofree char *scenario = env_write (env, "scenario.json",
    "{\"rules\": [{\"sequence\": [{\"kind\": \"rate_limit\", \"retry_after\": \"86400\"}], \"then\": \"ok\"}]}");
  g_autofree char *pipeline = sentiment_pipeline ();
  g_autoptr(Result) result = NULL;
  g_autoptr(JsonNode) node = NULL;
  JsonObject *error;

  mock_start (env, "--scenario", scenario, NULL);
  result = run_cli (env, NULL, "run", pipeline, "--input", "{\"text\": \"I love it\"}", NULL);
  assert_status (result, 1);
  node = parse_json (result->out);
  error = json_object_get_object_member (json_node_get_object (node), "error");
  g_assert_cmpstr (string_member (error, "kind"), ==, "rate_limited");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (error, "attempts")), ==, 1);
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (
    json_object_get_array_member (error, "attempts"), 0), "retry_after_ms"), ==, 86400000);
  g_assert_cmpint (mock_requests (env), ==, 1);
}

/* The exit status counts failures of every run of a batch, and
 * --resume --retry-failed runs the failed jobs again, once each. */
static void
test_batch_retry_failed (void)
{
  g_autoptr(Env) env = env_new ();
  g_autofree char *scenario = env_write (env, "scenario.json",
    "{\"rules\": [{\"match\": \"FAILME\", \"sequence\": [], \"then\": {\"kind\": \"status\", \"status\": 400}}]}");
  g_autofree char *pipeline = sentiment_pipeline ();
  g_autofree char *input = env_write (env, "in.jsonl",
    "{\"custom_id\": \"a\", \"input\": {\"text\": \"I love it\"}}\n"
    "{\"custom_id\": \"b\", \"input\": {\"text\": \"FAILME please\"}}\n"
    "{\"custom_id\": \"c\", \"input\": {\"text\": \"awful\"}}\n");
  g_autofree char *output = env_path (env, "out.jsonl");
  g_autofree char *text = NULL;
  g_autoptr(Result) first = NULL;
  g_autoptr(Result) again = NULL;
  g_autoptr(Result) retried = NULL;
  g_auto(GStrv) lines = NULL;

  mock_start (env, "--scenario", scenario, NULL);
  first = run_cli (env, NULL, "batch", pipeline, input, "-o", output, "--quiet", NULL);
  assert_status (first, 1);

  /* nothing left to run, but the batch still holds a failure */
  again = run_cli (env, NULL, "batch", pipeline, input, "-o", output, "--quiet", "--resume", NULL);
  assert_status (again, 1);
  g_assert_cmpint (mock_requests (env), ==, 3);

  mock_stop (env);
  mock_start (env, NULL);
  retried = run_cli (env, NULL, "batch", pipeline, input, "-o", output, "--quiet", "--resume",
                     "--retry-failed", NULL);
  assert_status (retried, 0);
  g_assert_cmpint (mock_requests (env), ==, 1);

  text = read_text (output);
  lines = g_strsplit (g_strstrip (text), "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(JsonNode) node = parse_json (lines[i]);

      g_assert_true (json_object_has_member (json_node_get_object (node), "output"));
    }
}

/* A line longer than the 16 MB line buffer fails alone; the lines around
 * it run, and memory does not grow with it. */
static void
test_batch_long_line (void)
{
  g_autoptr(Env) env = env_new ();
  g_autofree char *pipeline = sentiment_pipeline ();
  g_autoptr(GString) contents = g_string_new ("{\"custom_id\": \"a\", \"input\": {\"text\": \"I love it\"}}\n"
                                              "{\"custom_id\": \"big\", \"input\": {\"text\": \"");
  g_autofree char *input = NULL;
  g_autofree char *output = env_path (env, "out.jsonl");
  g_autofree char *text = NULL;
  g_autoptr(Result) result = NULL;
  g_auto(GStrv) lines = NULL;
  guint errors = 0;

  for (guint i = 0; i < (17u << 20) / 64; i++)
    g_string_append (contents, "0123456789012345678901234567890123456789012345678901234567890123");
  g_string_append (contents, "\"}}\n{\"custom_id\": \"c\", \"input\": {\"text\": \"awful\"}}\n");
  input = env_write (env, "in.jsonl", contents->str);

  mock_start (env, NULL);
  result = run_cli (env, NULL, "batch", pipeline, input, "-o", output, "--quiet", NULL);
  assert_status (result, 1);
  text = read_text (output);
  lines = g_strsplit (g_strstrip (text), "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(JsonNode) node = parse_json (lines[i]);
      JsonObject *line = json_node_get_object (node);

      if (json_object_has_member (line, "error"))
        {
          errors++;
          g_assert_cmpint (json_object_get_int_member (line, "line"), ==, 2);
          g_assert_cmpstr (string_member (json_object_get_object_member (line, "error"), "message"), ==,
                           "line 2 is longer than 16 MB");
        }
    }
  g_assert_cmpuint (errors, ==, 1);
  g_assert_cmpint (mock_requests (env), ==, 2);
}

/* An answer without JSON is sent back once with feedback (parse's
 * correction_retries); the second answer is used. */
static void
test_run_parse_correction (void)
{
  g_autoptr(Env) env = env_new ();
  g_autofree char *scenario = env_write (env, "scenario.json",
    /* only a request that carries the feedback gets JSON back */
    "{\"rules\": [{\"match\": \"held no JSON\", \"sequence\": [], \"then\": \"ok\"}, "
    "{\"sequence\": [], \"then\": {\"kind\": \"ok\", \"content\": \"It sounds positive to me.\"}}]}");
  g_autofree char *pipeline = env_write (env, "p.yaml",
    "name: corrected\n"
    "stages:\n"
    "  - assemble: {user: \"{{text}}\"}\n"
    "  - call:\n"
    "      target: {provider: openai, model: gpt-4o-mini, base_url: \"${SLUICE_BASE_URL}\", api_key: \"${SLUICE_API_KEY}\"}\n"
    "  - parse: {correction_retries: 1}\n");
  g_autoptr(Result) result = NULL;
  g_autoptr(JsonNode) output = NULL;

  mock_start (env, "--scenario", scenario, NULL);
  result = run_cli (env, NULL, "run", pipeline, "--input", "{\"text\": \"I love it\"}", NULL);
  assert_status (result, 0);
  output = parse_json (result->out);
  assert_sentiment_output (output);
  g_assert_cmpint (mock_requests (env), ==, 2);
}

/* The messages of the kept request whose body holds @marker and
 * @also (NULL: anything); asserts there is exactly one. */
static JsonArray *
kept_request_messages (JsonObject *kept,
                       const char *marker,
                       const char *also)
{
  JsonArray *requests = json_object_get_array_member (kept, "requests");
  JsonArray *found = NULL;

  for (guint i = 0; i < json_array_get_length (requests); i++)
    {
      const char *body = string_member (json_array_get_object_element (requests, i), "body");
      g_autoptr(JsonNode) node = NULL;

      if (strstr (body, marker) == NULL || (also != NULL && strstr (body, also) == NULL))
        continue;
      g_assert_null (found);
      node = parse_json (body);
      found = json_array_ref (json_object_get_array_member (json_node_get_object (node), "messages"));
    }
  g_assert_nonnull (found);
  return found;
}

static const char *
message_content (JsonArray *messages,
                 gint       index,     /* < 0: from the end */
                 const char *role)
{
  guint n = json_array_get_length (messages);
  JsonObject *message = json_array_get_object_element (messages, index < 0 ? n + index : (guint) index);

  g_assert_cmpstr (string_member (message, "role"), ==, role);
  return string_member (message, "content");
}

/* Against the mock's schema-breaking answers (its bad_answer kinds, by
 * scenario), the sentiment pipeline's corrections succeed: each of the
 * four broken forms is sent back once with what was wrong and comes back
 * right; an answer broken twice fails with a validation error that shows
 * the violations and the answer, never the answer as output. The batch
 * summary and the ledger count each outcome. */
static void
test_batch_corrections (void)
{
  g_autoptr(Env) env = env_new ();
  g_autofree char *scenario = env_write (env, "scenario.json",
    "{\"rules\": ["
    " {\"match\": \"case-label\", \"sequence\": [{\"kind\": \"bad_answer\", \"variant\": \"bad_label\"}]},"
    " {\"match\": \"case-confidence\", \"sequence\": [{\"kind\": \"bad_answer\", \"variant\": \"bad_confidence\"}]},"
    " {\"match\": \"case-missing\", \"sequence\": [{\"kind\": \"bad_answer\", \"variant\": \"missing_reasoning\"}]},"
    " {\"match\": \"case-prose\", \"sequence\": [{\"kind\": \"bad_answer\", \"variant\": \"prose\"}]},"
    /* no JSON, then a bad label: parse and validate each correct once */
    " {\"match\": \"case-twice\", \"sequence\": [{\"kind\": \"bad_answer\", \"variant\": \"prose\"},"
    "                                        {\"kind\": \"bad_answer\", \"variant\": \"bad_label\"}]},"
    " {\"match\": \"case-stubborn\", \"sequence\": [], \"then\": {\"kind\": \"bad_answer\", \"variant\": \"bad_confidence\"}}"
    "]}");
  g_autofree char *input = env_write (env, "reviews.jsonl",
    "{\"custom_id\": \"plain-1\", \"input\": {\"text\": \"I love it, wonderful.\"}}\n"
    "{\"custom_id\": \"plain-2\", \"input\": {\"text\": \"Terrible, it broke.\"}}\n"
    "{\"custom_id\": \"plain-3\", \"input\": {\"text\": \"It arrived on Tuesday.\"}}\n"
    "{\"custom_id\": \"label\", \"input\": {\"text\": \"Great sound case-label\"}}\n"
    "{\"custom_id\": \"confidence\", \"input\": {\"text\": \"Awful screen case-confidence\"}}\n"
    "{\"custom_id\": \"missing\", \"input\": {\"text\": \"Excellent case-missing\"}}\n"
    "{\"custom_id\": \"prose\", \"input\": {\"text\": \"Horrible case-prose\"}}\n"
    "{\"custom_id\": \"twice\", \"input\": {\"text\": \"Wonderful case-twice\"}}\n"
    "{\"custom_id\": \"stubborn\", \"input\": {\"text\": \"Great case-stubborn\"}}\n");
  static const char *ids[] = { NULL, "plain-1", "plain-2", "plain-3", "label", "confidence", "missing",
                               "prose", "twice", "stubborn" };
  static const char *expected[] = { NULL, "positive", "negative", "neutral", "positive", "negative",
                                    "positive", "negative", "positive", NULL };
  g_autofree char *pipeline = sentiment_pipeline ();
  g_autofree char *output = env_path (env, "out.jsonl");
  g_autofree char *ledger = ledger_path (env);
  g_autoptr(Result) result = NULL;
  g_autoptr(Result) run = NULL;
  g_autoptr(GPtrArray) by_line = NULL;
  g_autoptr(JsonObject) kept = NULL;
  g_autoptr(JsonArray) messages = NULL;
  g_autoptr(JsonNode) run_node = NULL;
  JsonObject *error;
  JsonArray *violations;
  JsonObject *violation;

  mock_start (env, "--scenario", scenario, "--keep-requests", "64", NULL);
  result = run_cli (env, NULL, "batch", pipeline, input, "-o", output, NULL);
  assert_status (result, 1);
  sluice_test_assert_contains (result->out, "jobs:      8 ok, 1 failed\n");
  sluice_test_assert_contains (result->out, "schema:    3 valid first try (33.3%), 5 after correction, 1 invalid\n");

  by_line = read_batch_output (output, 9, ids);
  for (guint line = 1; line <= 8; line++)
    {
      JsonNode *answer = json_object_get_member (line_object (by_line, line), "output");

      g_assert_nonnull (answer);
      assert_sentiment_output (answer);
      /* The corrected answer is about the review, not the correction. */
      g_assert_cmpstr (string_member (json_node_get_object (answer), "sentiment"), ==, expected[line]);
    }

  /* Broken twice: a validation error with the violations and an excerpt
   * of the answer; no output. */
  g_assert_false (json_object_has_member (line_object (by_line, 9), "output"));
  error = json_object_get_object_member (line_object (by_line, 9), "error");
  g_assert_cmpstr (assert_structured_error (error), ==, "validation");
  g_assert_cmpstr (string_member (error, "stage"), ==, "validate");
  g_assert_cmpstr (string_member (error, "message"), ==,
                   "the answer does not match the output schema after 1 correction: "
                   "/confidence: 1.7 is greater than the maximum 1");
  violations = json_object_get_array_member (error, "violations");
  g_assert_cmpuint (json_array_get_length (violations), ==, 1);
  violation = json_array_get_object_element (violations, 0);
  g_assert_cmpuint (json_object_get_size (violation), ==, 3);
  g_assert_cmpstr (string_member (violation, "instance_path"), ==, "/confidence");
  g_assert_cmpstr (string_member (violation, "keyword_path"), ==, "/properties/confidence/maximum");
  g_assert_cmpstr (string_member (violation, "message"), ==, "1.7 is greater than the maximum 1");
  g_assert_true (g_str_has_prefix (string_member (error, "raw_output"), "{\"sentiment\": \"positive\", \"confidence\": 1.7, "));
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (error, "attempts")), ==, 2);

  /* What the mock was sent back: the answer it gave, as the assistant,
   * then each violation's path and message. */
  kept = mock_get (env, "/mock/requests");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (kept, "requests")), ==, 3 + 4 * 2 + 3 + 2);
  messages = kept_request_messages (kept, "case-label", "Your answer");
  g_assert_cmpuint (json_array_get_length (messages), ==, 4);
  g_assert_cmpstr (message_content (messages, 1, "user"), ==, "Great sound case-label");
  sluice_test_assert_contains (message_content (messages, 2, "assistant"), "{\"sentiment\": \"happy\", \"confidence\": ");
  g_assert_cmpstr (message_content (messages, 3, "user"), ==,
                   "Your answer does not satisfy the required JSON Schema:\n"
                   "- /sentiment: value is not one of: positive, negative, neutral\n"
                   "Reply again with only the corrected JSON.");
  g_clear_pointer (&messages, json_array_unref);
  messages = kept_request_messages (kept, "case-missing", "Your answer");
  g_assert_cmpstr (message_content (messages, -1, "user"), ==,
                   "Your answer does not satisfy the required JSON Schema:\n"
                   "- /: missing required property 'reasoning'\n"
                   "Reply again with only the corrected JSON.");
  g_clear_pointer (&messages, json_array_unref);
  /* Parse, then validate: the second correction carries the first. */
  messages = kept_request_messages (kept, "case-twice", "value is not one of");
  g_assert_cmpuint (json_array_get_length (messages), ==, 6);
  g_assert_true (g_str_has_prefix (message_content (messages, 3, "user"), "Your answer held no JSON."));
  sluice_test_assert_contains (message_content (messages, 4, "assistant"), "\"sentiment\": \"happy\"");

  /* The ledger: each request's compliance and the target that answered;
   * the tokens of every rejected answer wasted. */
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM requests WHERE compliance = 'valid_first_try'"), ==, 3);
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM requests WHERE compliance = 'valid_after_correction'"), ==, 5);
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM requests WHERE compliance = 'invalid'"), ==, 1);
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM requests WHERE compliance = 'invalid' "
                                   "AND job_id = 'stubborn' AND error_kind = 'validation'"), ==, 1);
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM requests WHERE pipeline = 'sentiment' "
                                   "AND target = 'openai/gpt-4o-mini'"), ==, 9);
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM attempts"), ==, 16);
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM attempts WHERE wasted = 1"), ==, 4 + 2 + 2);
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM attempts WHERE wasted = 1 AND job_id = 'stubborn'"), ==, 2);

  /* `sluice run` prints the same error. */
  run = run_cli (env, NULL, "run", pipeline, "--input", "{\"text\": \"Fine case-stubborn\"}", NULL);
  assert_status (run, 1);
  run_node = parse_json (run->out);
  error = json_object_get_object_member (json_node_get_object (run_node), "error");
  g_assert_cmpstr (assert_structured_error (error), ==, "validation");
  violations = json_object_get_array_member (error, "violations");
  g_assert_cmpuint (json_array_get_length (violations), ==, 1);
  g_assert_cmpstr (string_member (json_array_get_object_element (violations, 0), "keyword_path"), ==,
                   "/properties/confidence/maximum");
  sluice_test_assert_contains (string_member (error, "raw_output"), "\"confidence\": 1.7");
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM requests WHERE compliance = 'invalid'"), ==, 2);
}

/* OpenAI Batch lines bring their own messages; a pipeline without
 * assemble or parse answers with the model's text; custom_ids keep their
 * JSON type; a hostile, deeply nested line fails alone. */
static void
test_batch_openai_format (void)
{
  g_autoptr(Env) env = env_new ();
  g_autoptr(GString) deep = g_string_new ("{\"custom_id\": \"deep\", \"input\": ");
  g_autoptr(Result) result = NULL;
  g_autofree char *pipeline = NULL;
  g_autofree char *input = NULL;
  g_autofree char *output = NULL;
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;

  for (guint i = 0; i < 100000; i++)
    g_string_append_c (deep, '[');
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (deep, ']');
  g_string_append (deep, "}\n");

  pipeline = env_write (env, "raw.yaml",
    "name: raw\n"
    "stages:\n"
    "  - call:\n"
    "      target: {provider: openai, model: gpt-4o-mini, base_url: \"${SLUICE_BASE_URL}\", api_key: \"${SLUICE_API_KEY}\"}\n"
    "      retry: {max_attempts: 1}\n");
  {
    g_autofree char *contents = g_strconcat (
      "{\"custom_id\": 7, \"method\": \"POST\", \"url\": \"/v1/chat/completions\", "
      "\"body\": {\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"I love it, wonderful\"}]}}\n",
      deep->str, NULL);
    input = env_write (env, "batch.jsonl", contents);
  }
  output = env_path (env, "out.jsonl");

  mock_start (env, NULL);
  result = run_cli (env, NULL, "batch", pipeline, input, "-o", output, "--quiet", NULL);
  assert_status (result, 1);

  text = read_text (output);
  lines = g_strsplit (g_strstrip (text), "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(JsonNode) node = parse_json (lines[i]);
      JsonObject *line = json_node_get_object (node);

      if (json_object_get_int_member (line, "line") == 1)
        {
          JsonNode *id = json_object_get_member (line, "custom_id");
          JsonNode *answer = json_object_get_member (line, "output");

          g_assert_cmpint (json_node_get_value_type (id), ==, G_TYPE_INT64);
          g_assert_cmpint (json_node_get_int (id), ==, 7);
          g_assert_nonnull (answer);
          g_assert_cmpint (json_node_get_value_type (answer), ==, G_TYPE_STRING);
          g_assert_nonnull (strstr (json_node_get_string (answer), "\"sentiment\": \"positive\""));
        }
      else
        {
          JsonObject *error = json_object_get_object_member (line, "error");

          g_assert_cmpstr (string_member (line, "custom_id"), ==, "line-2");
          g_assert_cmpstr (string_member (error, "kind"), ==, "invalid_input");
          g_assert_nonnull (strstr (string_member (error, "message"), "nests deeper than 512 levels"));
        }
    }
  g_assert_cmpint (mock_requests (env), ==, 1);
}

/* ---- the same pipeline against every provider's wire format ----------------------------- */

static gint64
mock_path_count (JsonObject *stats,
                 const char *path)
{
  JsonObject *paths = json_object_get_object_member (stats, "paths");

  return json_object_has_member (paths, path) ? json_object_get_int_member (paths, path) : 0;
}

static void
test_sentiment_every_provider (void)
{
  static const struct {
    const char *provider;
    const char *model;
    const char *base_path;
    const char *path;
    const char *stream_path;
  } targets[] = {
    { "openai", "gpt-4o-mini", "/v1", "/v1/chat/completions", "/v1/chat/completions" },
    { "openai-compatible", "llama3.2", "/v1", "/v1/chat/completions", "/v1/chat/completions" },
    { "anthropic", "claude-sonnet-4-5", "/v1", "/v1/messages", "/v1/messages" },
    { "gemini", "gemini-2.0-flash", "/v1beta", "/v1beta/models/gemini-2.0-flash:generateContent",
      "/v1beta/models/gemini-2.0-flash:streamGenerateContent" },
  };
  static const char reviews[] =
    "{\"custom_id\": \"a\", \"input\": {\"text\": \"I love it: wonderful sound, great battery.\"}}\n"
    "{\"custom_id\": \"b\", \"input\": {\"text\": \"Terrible. It broke after a day, awful support.\"}}\n"
    "{\"custom_id\": \"c\", \"input\": {\"text\": \"It arrived on Tuesday.\"}}\n";
  g_autoptr(Env) env = env_new ();
  g_autofree char *pipeline = sentiment_pipeline ();
  g_autofree char *input = env_write (env, "reviews.jsonl", reviews);
  g_autofree char *ledger = NULL;
  g_autoptr(JsonObject) stats = NULL;

  /* A ledger written before the stream columns existed gains them. */
  ledger = ledger_path (env);
  {
    g_autoptr(GError) error = NULL;
    SluiceDb *old = sluice_db_open (ledger,
      "CREATE TABLE attempts (id INTEGER PRIMARY KEY, time TEXT NOT NULL, request_id TEXT NOT NULL,"
      " job_id TEXT, pipeline TEXT, attempt INTEGER, provider TEXT, model TEXT, outcome TEXT NOT NULL,"
      " error_kind TEXT, http_status INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER,"
      " cost_usd REAL, latency_ms INTEGER, delay_ms INTEGER, labels TEXT);"
      "CREATE TABLE requests (request_id TEXT PRIMARY KEY, time TEXT NOT NULL, job_id TEXT,"
      " pipeline TEXT, outcome TEXT NOT NULL, error_kind TEXT, error_stage TEXT,"
      " attempts INTEGER NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER, cost_usd REAL,"
      " latency_ms INTEGER, labels TEXT);", &error);

    g_assert_no_error (error);
    sluice_db_close (old);
  }

  mock_start (env, "--require-key", PLAIN_KEY, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (targets); i++)
    for (guint streamed = 0; streamed <= 1; streamed++)
      {
        g_autofree char *base = g_strconcat (env->mock_url, targets[i].base_path, NULL);
        g_autofree char *output = g_strdup_printf ("%s/out-%s-%u.jsonl", env->dir, targets[i].provider, streamed);
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;
        g_autoptr(Result) result = NULL;
        const char *extra[] = {
          "SLUICE_PROVIDER", targets[i].provider, "SLUICE_MODEL", targets[i].model,
          "SLUICE_BASE_URL", base, "SLUICE_STREAM", streamed ? "true" : "false", NULL
        };

        g_test_message ("%s, stream: %u", targets[i].provider, streamed);
        g_strfreev (env->extra_env);
        env->extra_env = g_strdupv ((GStrv) extra);
        /* Streamed or not the answer is the same: the cache would
         * answer the second round. */
        result = run_cli (env, NULL, "batch", pipeline, input, "-o", output, "--no-cache", NULL);
        assert_status (result, 0);

        g_assert_true (g_file_get_contents (output, &text, NULL, NULL));
        lines = g_strsplit (g_strchomp (text), "\n", -1);
        g_assert_cmpuint (g_strv_length (lines), ==, 3);
        for (guint j = 0; j < 3; j++)
          {
            g_autoptr(JsonNode) line = parse_json (lines[j]);
            JsonObject *object = json_node_get_object (line);
            const char *expected[] = { "positive", "negative", "neutral" };
            const char *id = string_member (object, "custom_id");
            JsonObject *result_object = json_object_get_object_member (object, "output");

            g_assert_nonnull (result_object);
            g_assert_cmpstr (string_member (result_object, "sentiment"), ==, expected[id[0] - 'a']);
          }
      }

  /* Each format went to its own path, streamed when asked. */
  stats = mock_stats (env);
  g_assert_cmpint (json_object_get_int_member (stats, "requests"), ==, 3 * 2 * G_N_ELEMENTS (targets));
  g_assert_cmpint (json_object_get_int_member (stats, "streams"), ==, 3 * G_N_ELEMENTS (targets));
  g_assert_cmpint (mock_path_count (stats, "/v1/chat/completions"), ==, 3 * 4);
  g_assert_cmpint (mock_path_count (stats, "/v1/messages"), ==, 3 * 2);
  g_assert_cmpint (mock_path_count (stats, targets[3].path), ==, 3);
  g_assert_cmpint (mock_path_count (stats, targets[3].stream_path), ==, 3);

  /* The ledger tells each attempt's provider, which were streamed and
   * their time to first token. */
  g_assert_cmpint (db_int (ledger, "SELECT count(DISTINCT provider) FROM attempts"), ==, 4);
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM attempts WHERE outcome = 'ok'"), ==, 24);
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM attempts WHERE streamed = 1 AND ttft_ms >= 0"), ==, 12);
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM attempts WHERE streamed = 0 AND ttft_ms IS NULL"), ==, 12);
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM attempts WHERE finish_reason = 'stop'"), ==, 24);
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM attempts WHERE usage_estimated = 0"), ==, 24);
  /* The older requests table gained the compliance columns: each answer
   * was valid at once, and which target gave it is known. */
  g_assert_cmpint (db_int (ledger, "SELECT count(*) FROM requests WHERE compliance = 'valid_first_try'"), ==, 24);
  g_assert_cmpint (db_int (ledger, "SELECT count(DISTINCT target) FROM requests"), ==, 4);
}

/* The pipeline's http block sets the engine's connection limits: ten
 * concurrent jobs share two connections. */
static void
test_http_limits (void)
{
  g_autoptr(Env) env = env_new ();
  g_autofree char *plain = write_pipeline (env, "plain.yaml", "5s", 1);
  g_autofree char *plain_text = read_text (plain);
  g_autofree char *limited_text = g_strconcat ("http: {max_conns: 2, max_conns_per_host: 2}\n", plain_text, NULL);
  g_autofree char *limited = env_write (env, "limited.yaml", limited_text);
  g_autofree char *out_limited = env_path (env, "limited.jsonl");
  g_autofree char *out_plain = env_path (env, "plain.jsonl");
  g_auto(GStrv) ids = NULL;
  g_autofree char *input = write_reviews (env, "reviews.jsonl", 20, &ids);
  g_autoptr(Result) limited_run = NULL;
  g_autoptr(Result) plain_run = NULL;
  gint64 after_limited, after_plain;

  mock_start (env, "--latency", "50ms", NULL);
  limited_run = run_cli (env, NULL, "batch", limited, input, "-o", out_limited, "--concurrency", "10", NULL);
  assert_status (limited_run, 0);
  {
    g_autoptr(JsonObject) stats = mock_stats (env);

    /* Two for the jobs, one for this stats request. */
    after_limited = json_object_get_int_member (stats, "connections");
    g_assert_cmpint (after_limited, <=, 3);
  }

  plain_run = run_cli (env, NULL, "batch", plain, input, "-o", out_plain, "--concurrency", "10", NULL);
  assert_status (plain_run, 0);
  {
    g_autoptr(JsonObject) stats = mock_stats (env);

    /* Without the block, the jobs run side by side on their own connections. */
    after_plain = json_object_get_int_member (stats, "connections");
    g_assert_cmpint (after_plain - after_limited, >=, 8);
  }
}

/* A connection limit that is no whole number (atoi read "1e9" as 1) is
 * refused out loud, once, and the default is used; a good one is quiet. */
static void
test_bad_max_conns (void)
{
  static const char warning[] =
    "sluice: SLUICE_MAX_CONNS must be a whole number from 1 to 100000; using 1024\n";
  g_autoptr(Env) env = env_new ();
  g_autofree char *pipeline = sentiment_pipeline ();
  const char *bad[] = { "SLUICE_MAX_CONNS", "1e9", NULL };
  const char *good[] = { "SLUICE_MAX_CONNS", "4", NULL };
  g_autoptr(Result) bad_run = NULL;
  g_autoptr(Result) good_run = NULL;
  g_autoptr(JsonNode) output = NULL;

  mock_start (env, NULL);
  env->extra_env = g_strdupv ((GStrv) bad);
  bad_run = run_cli (env, NULL, "run", pipeline, "--input", "{\"text\": \"I love it: wonderful sound.\"}", NULL);
  assert_status (bad_run, 0);
  /* Exactly once, though the engine opens a session for calls and one for streams. */
  g_assert_cmpstr (bad_run->err, ==, warning);
  output = parse_json (bad_run->out);
  assert_sentiment_output (output);
  g_assert_cmpstr (string_member (json_node_get_object (output), "sentiment"), ==, "positive");

  g_strfreev (env->extra_env);
  env->extra_env = g_strdupv ((GStrv) good);
  good_run = run_cli (env, NULL, "run", pipeline, "--input", "{\"text\": \"I love it\"}", NULL);
  assert_status (good_run, 0);
  g_assert_cmpstr (good_run->err, ==, "");
  g_assert_cmpint (mock_requests (env), ==, 2);
}

/* A catalog override that cannot be used stops the pipeline from loading,
 * naming the file and the member, rather than running without prices
 * (costs of 0 or unknown): nothing is sent. */
static void
test_bad_catalog_override (void)
{
  g_autoptr(Env) env = env_new ();
  g_autofree char *pipeline = sentiment_pipeline ();
  g_autofree char *override = g_build_filename (env->dir, "prices.json", NULL);
  const char *bad[] = { "SLUICE_CATALOG_OVERRIDE", override, NULL };
  g_autoptr(Result) check = NULL;
  g_autoptr(Result) run = NULL;

  g_assert_true (g_file_set_contents (override,
                 "{\"providers\": {\"openai\": {\"gpt-4o-mini\": {\"input_per_mtok\": -1}}}}", -1, NULL));
  mock_start (env, NULL);
  env->extra_env = g_strdupv ((GStrv) bad);
  check = run_cli (env, NULL, "check", pipeline, NULL);
  run = run_cli (env, NULL, "run", pipeline, "--input", "{\"text\": \"I love it\"}", NULL);
  assert_status (check, 1);
  sluice_test_assert_contains (check->err, "model catalog: ");
  sluice_test_assert_contains (check->err, "prices.json: providers.openai.gpt-4o-mini.input_per_mtok: ");
  g_assert_cmpint (run->status, !=, 0);
  sluice_test_assert_contains (run->err, "prices.json: providers.openai.gpt-4o-mini.input_per_mtok: ");
  g_assert_cmpint (mock_requests (env), ==, 0);
}

/* POSTs @body to the mock's @path with the header pairs in @headers;
 * returns the status, the reply's JSON in @reply. */
static guint
mock_post (Env               *env,
           const char        *path,
           const char * const *headers,
           GBytes            *body,
           JsonObject       **reply)
{
  g_autofree char *uri = g_strconcat (env->mock_url, path, NULL);
  g_autoptr(SoupSession) session = soup_session_new_with_options ("timeout", 20, NULL);
  g_autoptr(SoupMessage) message = soup_message_new ("POST", uri);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) answer = NULL;
  g_autoptr(JsonNode) node = NULL;

  for (guint i = 0; headers[i] != NULL; i += 2)
    soup_message_headers_replace (soup_message_get_request_headers (message), headers[i], headers[i + 1]);
  soup_message_set_request_body_from_bytes (message, "application/json", body);
  answer = soup_session_send_and_read (session, message, NULL, &error);
  g_assert_no_error (error);
  node = json_from_string (g_bytes_get_data (answer, NULL), &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  *reply = json_object_ref (json_node_get_object (node));
  return soup_message_get_status (message);
}

/* json-glib recurses once per nesting level: a body nested 100000 deep
 * must be refused as bad JSON in each format's own error shape, not crash
 * the mock. */
static void
test_mock_deep_body (void)
{
  static const char * const openai[] = { "Authorization", "Bearer " PLAIN_KEY, NULL };
  static const char * const anthropic[] = { "x-api-key", PLAIN_KEY, "anthropic-version", "2023-06-01", NULL };
  static const char * const gemini[] = { "x-goog-api-key", PLAIN_KEY, NULL };
  g_autoptr(Env) env = env_new ();
  g_autoptr(GString) deep = g_string_new (NULL);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(JsonObject) stats = NULL;

  for (guint i = 0; i < 100000; i++)
    g_string_append_c (deep, '[');
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (deep, ']');
  body = g_bytes_new (deep->str, deep->len);
  mock_start (env, "--require-key", PLAIN_KEY, NULL);

  {
    g_autoptr(JsonObject) reply = NULL;
    JsonObject *error;

    g_assert_cmpuint (mock_post (env, "/v1/chat/completions", openai, body, &reply), ==, 400);
    error = json_object_get_object_member (reply, "error");
    g_assert_nonnull (error);
    g_assert_cmpstr (string_member (error, "type"), ==, "invalid_request_error");
    g_assert_true (g_str_has_prefix (string_member (error, "message"), "We could not parse the JSON body"));
  }
  {
    g_autoptr(JsonObject) reply = NULL;
    JsonObject *error;

    g_assert_cmpuint (mock_post (env, "/v1/messages", anthropic, body, &reply), ==, 400);
    g_assert_cmpstr (string_member (reply, "type"), ==, "error");
    error = json_object_get_object_member (reply, "error");
    g_assert_nonnull (error);
    g_assert_cmpstr (string_member (error, "type"), ==, "invalid_request_error");
    g_assert_true (g_str_has_prefix (string_member (error, "message"),
                                     "There was an error parsing the body of your request"));
  }
  {
    g_autoptr(JsonObject) reply = NULL;
    JsonObject *error;

    g_assert_cmpuint (mock_post (env, "/v1beta/models/m:generateContent", gemini, body, &reply), ==, 400);
    error = json_object_get_object_member (reply, "error");
    g_assert_nonnull (error);
    g_assert_cmpint (json_object_get_int_member (error, "code"), ==, 400);
    g_assert_cmpstr (string_member (error, "status"), ==, "INVALID_ARGUMENT");
    g_assert_cmpstr (string_member (error, "message"), ==, "Invalid JSON payload received. Unexpected token.");
  }

  /* A quote hidden in a comment or a single-quoted string must not hide
   * the depth either (json-glib reads both). */
  {
    static const char * const prefixes[] = { "/*\"*/", "['\"', " };

    for (guint i = 0; i < G_N_ELEMENTS (prefixes); i++)
      {
        g_autoptr(GString) sneaky = g_string_new (prefixes[i]);
        g_autoptr(GBytes) sneaky_body = NULL;
        g_autoptr(JsonObject) reply = NULL;

        g_string_append (sneaky, deep->str);
        if (i == 1)
          g_string_append_c (sneaky, ']');
        sneaky_body = g_bytes_new (sneaky->str, sneaky->len);
        g_assert_cmpuint (mock_post (env, "/v1/chat/completions", openai, sneaky_body, &reply), ==, 400);
      }
  }

  /* Still up, and it counted the five as invalid requests. */
  stats = mock_stats (env);
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (stats, "by_kind"),
                                               "invalid_request"), ==, 5);
}

/* --outage START+DURATION: every model request in the window gets the
 * format's 503, whatever else was planned; after it, answers again. A
 * value without its duration is refused with exit status 2. */
static void
test_mock_outage (void)
{
  static const char * const openai[] = { "Authorization", "Bearer " PLAIN_KEY, NULL };
  static const char request[] =
    "{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"I love it\"}]}";
  g_autoptr(Env) env = env_new ();
  g_autoptr(GBytes) body = g_bytes_new_static (request, sizeof request - 1);
  g_autoptr(JsonObject) stats = NULL;
  gint64 listening_us, wait_us;

  /* The mock prints its URL once it listens: the window has begun. */
  mock_start (env, "--outage", "0ms+400ms", NULL);
  listening_us = g_get_monotonic_time ();
  {
    g_autoptr(JsonObject) reply = NULL;
    JsonObject *error;

    g_assert_cmpuint (mock_post (env, "/v1/chat/completions", openai, body, &reply), ==, 503);
    error = json_object_get_object_member (reply, "error");
    g_assert_nonnull (error);
    g_assert_cmpstr (string_member (error, "code"), ==, "overloaded");
  }
  /* The window is over 400 ms after listening: answers again. */
  wait_us = listening_us + 450 * G_TIME_SPAN_MILLISECOND - g_get_monotonic_time ();
  if (wait_us > 0)
    g_usleep ((gulong) wait_us);
  {
    g_autoptr(JsonObject) reply = NULL;

    g_assert_cmpuint (mock_post (env, "/v1/chat/completions", openai, body, &reply), ==, 200);
    g_assert_true (json_object_has_member (reply, "choices"));
  }
  stats = mock_stats (env);
  g_assert_cmpint (json_object_get_int_member (stats, "requests"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (stats, "outage"), ==, 1);

  /* No duration: a usage error. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocess) bad = NULL;
    g_autofree char *err = NULL;

    bad = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                            &error, g_getenv ("SLUICE_MOCK"), "--port", "0", "--outage", "1s", NULL);
    g_assert_no_error (error);
    g_subprocess_communicate_utf8 (bad, NULL, NULL, NULL, &err, &error);
    g_assert_no_error (error);
    g_assert_true (g_subprocess_get_if_exited (bad));
    g_assert_cmpint (g_subprocess_get_exit_status (bad), ==, 2);
    g_assert_nonnull (strstr (err, "--outage"));
  }
}

/* Sequential calls reuse kept-alive connections: libsoup reuses a POST's
 * connection only when the message is marked idempotent. */
static void
test_connections_are_reused (void)
{
  g_autoptr(Env) env = env_new ();
  g_autofree char *pipeline = sentiment_pipeline ();
  g_autoptr(GString) reviews = g_string_new (NULL);
  g_autofree char *input = NULL;
  g_autofree char *output = g_build_filename (env->dir, "out.jsonl", NULL);
  g_autoptr(Result) result = NULL;
  g_autoptr(JsonObject) stats = NULL;

  for (guint i = 0; i < 40; i++)
    g_string_append_printf (reviews, "{\"input\": {\"text\": \"review %u: great\"}}\n", i);
  input = env_write (env, "reviews.jsonl", reviews->str);
  mock_start (env, NULL);
  result = run_cli (env, NULL, "batch", pipeline, input, "-o", output, "--concurrency", "1", NULL);
  assert_status (result, 0);
  stats = mock_stats (env);
  g_assert_cmpint (json_object_get_int_member (stats, "requests"), ==, 40);
  /* One connection for the calls, and the stats request's own. */
  g_assert_cmpint (json_object_get_int_member (stats, "connections"), <=, 3);
}

/* Runs the case in a child process so that one failure (an abort) leaves
 * the other cases to run; the parent only judges. */
static void
isolated (gconstpointer data)
{
  GTestFunc func = (GTestFunc) data;

  if (g_test_subprocess ())
    {
      func ();
      return;
    }
  g_test_trap_subprocess (NULL, CASE_TIMEOUT_S * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

static void
add (const char *path,
     GTestFunc   func)
{
  g_test_add_data_func (path, (gconstpointer) func, isolated);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (!g_test_subprocess ())
    /* A failed case is reported; the next one still runs. */
    g_test_set_nonfatal_assertions ();

  add ("/cli/batch/bad-lines", test_batch_bad_lines);
  add ("/cli/batch/resume-after-kill", test_batch_resume_after_kill);
  add ("/cli/batch/interrupt-then-resume", test_batch_interrupt_then_resume);
  add ("/cli/batch/openai-format", test_batch_openai_format);
  add ("/cli/batch/output-safety", test_batch_output_safety);
  add ("/cli/batch/retry-failed", test_batch_retry_failed);
  add ("/cli/batch/long-line", test_batch_long_line);
  add ("/cli/batch/every-provider", test_sentiment_every_provider);
  add ("/cli/batch/connections-reused", test_connections_are_reused);
  add ("/cli/batch/http-limits", test_http_limits);
  add ("/cli/run/bad-max-conns", test_bad_max_conns);
  add ("/cli/run/bad-catalog-override", test_bad_catalog_override);
  add ("/cli/mock/deep-body", test_mock_deep_body);
  add ("/cli/mock/outage", test_mock_outage);
  add ("/cli/run/ok", test_run_ok);
  add ("/cli/labels", test_labels);
  add ("/cli/snapshot", test_snapshot);
  add ("/cli/schemas-block", test_schemas_block);
  add ("/cli/misspelt-input-names", test_misspelt_input_names);
  add ("/cli/stage-order", test_stage_order);
  add ("/cli/batch/bad-messages", test_batch_bad_messages);
  add ("/cli/run/always-html", test_run_always_html);
  add ("/cli/run/always-malformed", test_run_always_malformed);
  add ("/cli/run/hang-timeout", test_run_hang_times_out);
  add ("/cli/run/retry-after", test_run_rate_limit_retry_after);
  add ("/cli/run/retry-after-too-long", test_run_retry_after_too_long);
  add ("/cli/run/parse-correction", test_run_parse_correction);
  add ("/cli/batch/corrections", test_batch_corrections);
  add ("/cli/usage-errors", test_usage_errors);
  add ("/cli/secrets", test_secrets);
  add ("/cli/version-and-help", test_version_and_help);

  return g_test_run ();
}
