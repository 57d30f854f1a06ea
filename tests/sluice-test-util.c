/* sluice-test-util.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-util.h"

#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <string.h>

char *
sluice_test_write_file (const char *name,
                        const char *contents)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("sluice-test-XXXXXX", &error);
  char *path;

  g_assert_no_error (error);
  path = g_build_filename (dir, name, NULL);
  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
  return path;
}

SluicePipeline *
sluice_test_load_pipeline (SluiceEngine *engine,
                           const char   *yaml)
{
  g_autofree char *path = sluice_test_write_file ("pipeline.yaml", yaml);
  g_autoptr(GError) error = NULL;
  SluicePipeline *pipeline = sluice_pipeline_new_from_file (engine, path, &error);

  g_assert_no_error (error);
  g_assert_nonnull (pipeline);
  return pipeline;
}

static void
on_done (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  gboolean *done = user_data;

  sluice_pipeline_process_finish (SLUICE_PIPELINE (source), result, NULL);
  *done = TRUE;
}

SluiceContext *
sluice_test_run (SluicePipeline *pipeline,
                 const char     *input_json)
{
  g_autoptr(JsonNode) input = sluice_json_from_string (input_json, -1, NULL);
  SluiceContext *context;

  g_assert_nonnull (input);
  context = sluice_context_new (input);
  sluice_test_run_context (pipeline, context);
  return context;
}

void
sluice_test_run_context (SluicePipeline *pipeline,
                         SluiceContext  *context)
{
  gboolean done = FALSE;

  sluice_pipeline_process_async (pipeline, context, NULL, on_done, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

static void
on_flushed (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  gboolean *done = user_data;
  g_autoptr(GError) error = NULL;

  sluice_pipeline_flush_finish (SLUICE_PIPELINE (source), result, &error);
  g_assert_no_error (error);
  *done = TRUE;
}

void
sluice_test_flush (SluicePipeline *pipeline)
{
  gboolean done = FALSE;

  sluice_pipeline_flush_async (pipeline, NULL, on_flushed, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

static GSubprocess *mock;
static char *mock_url;

/* A test that crashes must not leave its mock running (and holding the
 * test's output pipe open until meson's timeout). */
static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

char *
sluice_test_mock_start (const char *first_arg,
                        ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  const char *binary = g_getenv ("SLUICE_MOCK");
  va_list args;

  g_assert_nonnull (binary);
  g_assert_null (mock);

  g_ptr_array_add (argv, (gpointer) binary);
  g_ptr_array_add (argv, (gpointer) "--port");
  g_ptr_array_add (argv, (gpointer) "0");
  va_start (args, first_arg);
  for (const char *arg = first_arg; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  mock = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (mock));
  mock_url = g_data_input_stream_read_line (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (mock_url);
  g_assert_true (g_str_has_prefix (mock_url, "http://127.0.0.1:"));
  return g_strdup (mock_url);
}

void
sluice_test_mock_stop (void)
{
  if (mock == NULL)
    return;
  g_subprocess_send_signal (mock, SIGTERM);
  g_subprocess_wait (mock, NULL, NULL);
  g_clear_object (&mock);
  g_clear_pointer (&mock_url, g_free);
}

JsonObject *
sluice_test_mock_stats (void)
{
  return sluice_test_mock_get ("/mock/stats");
}

JsonObject *
sluice_test_mock_get (const char *path)
{
  g_autofree char *uri = g_strconcat (mock_url, path, NULL);
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autoptr(SoupMessage) message = soup_message_new ("GET", uri);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = soup_session_send_and_read (session, message, NULL, &error);
  g_autoptr(JsonNode) node = NULL;

  g_assert_no_error (error);
  node = sluice_json_from_string (g_bytes_get_data (body, NULL), (gssize) g_bytes_get_size (body), &error);
  g_assert_no_error (error);
  return json_object_ref (json_node_get_object (node));
}

JsonObject *
sluice_test_mock_last_request (void)
{
  g_autofree char *uri = g_strconcat (mock_url, "/mock/last-request", NULL);
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autoptr(SoupMessage) message = soup_message_new ("GET", uri);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = soup_session_send_and_read (session, message, NULL, &error);
  g_autoptr(JsonNode) node = NULL;

  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (message), ==, 200);
  node = sluice_json_from_string (g_bytes_get_data (body, NULL), (gssize) g_bytes_get_size (body), &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  return json_object_ref (json_node_get_object (node));
}

static GString *captured_logs;

static GLogWriterOutput
capture_writer (GLogLevelFlags   level,
                const GLogField *fields,
                gsize            n_fields,
                gpointer         user_data)
{
  for (gsize i = 0; captured_logs != NULL && i < n_fields; i++)
    if (g_str_equal (fields[i].key, "MESSAGE"))
      {
        g_string_append_len (captured_logs, fields[i].value,
                             fields[i].length < 0 ? (gssize) strlen (fields[i].value) : fields[i].length);
        g_string_append_c (captured_logs, '\n');
      }
  return g_log_writer_default (level, fields, n_fields, user_data);
}

void
sluice_test_capture_logs (void)
{
  captured_logs = g_string_new (NULL);
  g_log_set_writer_func (capture_writer, NULL, NULL);
}

const char *
sluice_test_get_logs (void)
{
  g_assert_nonnull (captured_logs);
  return captured_logs->str;
}

void
sluice_test_clear_logs (void)
{
  g_assert_nonnull (captured_logs);
  g_string_truncate (captured_logs, 0);
}

void
sluice_test_stop_capturing_logs (void)
{
  if (captured_logs != NULL)
    g_string_free (g_steal_pointer (&captured_logs), TRUE);
}

void
sluice_test_assert_contains (const char *haystack,
                             const char *needle)
{
  if (haystack == NULL || strstr (haystack, needle) == NULL)
    g_error ("expected \"%s\" in: %s", needle, haystack ? haystack : "(null)");
}
