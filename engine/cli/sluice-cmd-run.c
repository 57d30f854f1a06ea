/* sluice-cmd-run.c — `sluice run PIPELINE --input JSON|@FILE|-`
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib-unix.h>
#include <gio/gunixinputstream.h>

#include <glib/gstdio.h>
#include <sys/stat.h>

#include "sluice-cli-private.h"

#define MAX_INPUT_BYTES (256 << 20)

typedef struct
{
  GMainLoop    *loop;
  GCancellable *cancellable;
  gboolean      ok;
} Run;

/* @text on one line a terminal shows as it is: control characters (an
 * answer's property name may hold an escape sequence) become \xNN. */
char *
sluice_cli_printable (const char *text)
{
  GString *out = g_string_new (NULL);

  for (const char *p = text != NULL ? text : ""; *p != '\0'; p++)
    {
      if ((guchar) *p < 0x20 || *p == 0x7f)
        g_string_append_printf (out, "\\x%02x", (guchar) *p);
      else
        g_string_append_c (out, *p);
    }
  return g_string_free (out, FALSE);
}

/* The request: JSON text, @FILE, or - for standard input. */
JsonNode *
sluice_cli_read_input (const char  *spec,
                       GError     **error)
{
  g_autofree char *contents = NULL;
  gsize length = 0;

  if (g_strcmp0 (spec, "-") == 0)
    {
      g_autoptr(GInputStream) in = g_unix_input_stream_new (STDIN_FILENO, FALSE);
      g_autoptr(GOutputStream) mem = g_memory_output_stream_new_resizable ();

      if (g_output_stream_splice (mem, in, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, error) < 0)
        return NULL;
      length = g_memory_output_stream_get_data_size (G_MEMORY_OUTPUT_STREAM (mem));
      contents = g_memory_output_stream_steal_data (G_MEMORY_OUTPUT_STREAM (mem));
      contents = g_realloc (contents, length + 1);
      contents[length] = '\0';
      spec = "standard input";
    }
  else if (spec[0] == '@')
    {
      GStatBuf st;

      /* A FIFO or a device would block or never end. */
      if (g_stat (spec + 1, &st) == 0 && (!S_ISREG (st.st_mode) || st.st_size > MAX_INPUT_BYTES))
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                       "%s: not a regular file of at most %d MB", spec + 1, MAX_INPUT_BYTES >> 20);
          return NULL;
        }
      if (!g_file_get_contents (spec + 1, &contents, &length, error))
        return NULL;
      spec = spec + 1;
    }
  else
    {
      JsonNode *node = sluice_json_from_string (spec, -1, error);

      if (node == NULL)
        g_prefix_error (error, "--input is not valid JSON: ");
      return node;
    }

  {
    JsonNode *node = sluice_json_from_string (contents, (gssize) length, error);

    if (node == NULL)
      g_prefix_error (error, "%s is not valid JSON: ", spec);
    return node;
  }
}

gboolean
sluice_cli_set_cache_mode (SluiceEngine *engine,
                           const char   *command,
                           gboolean      no_cache,
                           gboolean      refresh_cache)
{
  if (no_cache && refresh_cache)
    {
      fprintf (stderr, "sluice %s: --no-cache and --refresh-cache exclude each other\n", command);
      return FALSE;
    }
  sluice_engine_set_cache_mode (engine, no_cache ? SLUICE_CACHE_MODE_OFF
                                        : refresh_cache ? SLUICE_CACHE_MODE_REFRESH
                                        : SLUICE_CACHE_MODE_USE);
  return TRUE;
}

static void
on_processed (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Run *run = user_data;

  run->ok = sluice_pipeline_process_finish (SLUICE_PIPELINE (source), result, NULL);
  g_main_loop_quit (run->loop);
}

static void
on_flushed (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Run *run = user_data;
  g_autoptr(GError) error = NULL;

  if (!sluice_pipeline_flush_finish (SLUICE_PIPELINE (source), result, &error))
    fprintf (stderr, "sluice run: warning: %s\n", error->message);
  g_main_loop_quit (run->loop);
}

static gboolean
on_signal (gpointer user_data)
{
  Run *run = user_data;

  g_cancellable_cancel (run->cancellable);
  return G_SOURCE_CONTINUE;
}

int
sluice_cmd_run (int    argc,
                char **argv)
{
  g_autofree char *input_spec = NULL;
  g_auto(GStrv) labels = NULL;
  gboolean pretty = FALSE, no_cache = FALSE, refresh_cache = FALSE;
  GOptionEntry entries[] = {
    { "label", 'l', 0, G_OPTION_ARG_STRING_ARRAY, &labels, "A label for this request (rate-limit keys, budgets, the ledger); repeatable", "KEY=VALUE" },
    { "input", 'i', 0, G_OPTION_ARG_STRING, &input_spec, "The request: JSON text, @FILE, or - for standard input", "JSON|@FILE|-" },
    { "pretty", 0, 0, G_OPTION_ARG_NONE, &pretty, "Indent the printed JSON", NULL },
    { "no-cache", 0, 0, G_OPTION_ARG_NONE, &no_cache, "Cache stages neither look up nor store", NULL },
    { "refresh-cache", 0, 0, G_OPTION_ARG_NONE, &refresh_cache, "Cache stages skip the lookup and store the fresh answer", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) options = g_option_context_new ("PIPELINE — run a pipeline on one input");
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceEngine) engine = NULL;
  g_autoptr(SluicePipeline) pipeline = NULL;
  g_autoptr(JsonNode) input = NULL;
  g_autoptr(SluiceContext) context = NULL;
  g_autoptr(JsonNode) result = NULL;
  g_autofree char *text = NULL;
  JsonNode *formatted;
  Run run = { 0 };
  guint sigint, sigterm;

  g_option_context_add_main_entries (options, entries, NULL);
  g_option_context_set_summary (options,
    "Prints the output JSON on standard output (with a format stage, what it\n"
    "renders: a template's text as it is, a projection as JSON). When the request fails it\n"
    "prints {\"error\": {\"kind\", \"message\", \"stage\", \"attempts\"}} and exits with 1.");
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      fprintf (stderr, "sluice run: %s\n", error->message);
      return SLUICE_EXIT_USAGE;
    }
  if (argc != 2)
    {
      fprintf (stderr, "sluice run: name exactly one pipeline file (see --help)\n");
      return SLUICE_EXIT_USAGE;
    }
  if (input_spec == NULL)
    {
      fprintf (stderr, "sluice run: --input is required (JSON text, @FILE or -)\n");
      return SLUICE_EXIT_USAGE;
    }

  input = sluice_cli_read_input (input_spec, &error);
  if (input == NULL)
    {
      fprintf (stderr, "sluice run: %s\n", error->message);
      return SLUICE_EXIT_USAGE;
    }

  for (guint i = 0; labels != NULL && labels[i] != NULL; i++)
    {
      const char *equals = strchr (labels[i], '=');

      if (equals == NULL || equals == labels[i])
        {
          fprintf (stderr, "sluice run: --label wants KEY=VALUE, not \"%s\"\n", labels[i]);
          return SLUICE_EXIT_USAGE;
        }
    }

  engine = sluice_engine_new ();
  if (!sluice_cli_set_cache_mode (engine, "run", no_cache, refresh_cache))
    return SLUICE_EXIT_USAGE;
  pipeline = sluice_cli_load_pipeline (engine, argv[1]);
  if (pipeline == NULL)
    return SLUICE_EXIT_USAGE;

  run.loop = g_main_loop_new (NULL, FALSE);
  run.cancellable = g_cancellable_new ();
  sigint = g_unix_signal_add (SIGINT, on_signal, &run);
  sigterm = g_unix_signal_add (SIGTERM, on_signal, &run);

  context = sluice_context_new (input);
  for (guint i = 0; labels != NULL && labels[i] != NULL; i++)
    {
      g_autofree char *key = g_strndup (labels[i], (gsize) (strchr (labels[i], '=') - labels[i]));

      sluice_context_set_label (context, key, strchr (labels[i], '=') + 1);
    }
  sluice_pipeline_process_async (pipeline, context, run.cancellable, on_processed, &run);
  g_main_loop_run (run.loop);
  sluice_pipeline_flush_async (pipeline, NULL, on_flushed, &run);
  g_main_loop_run (run.loop);

  g_source_remove (sigint);
  g_source_remove (sigterm);
  g_main_loop_unref (run.loop);
  g_object_unref (run.cancellable);

  formatted = run.ok ? sluice_context_get_formatted (context) : NULL;
  if (formatted != NULL && JSON_NODE_HOLDS_VALUE (formatted) && json_node_get_value_type (formatted) == G_TYPE_STRING)
    {
      /* A format template's text, as it is; one final newline. */
      const char *formatted_text = json_node_get_string (formatted);

      fputs (formatted_text, stdout);
      if (!g_str_has_suffix (formatted_text, "\n"))
        fputc ('\n', stdout);
    }
  else
    {
      result = formatted != NULL ? json_node_ref (formatted) : sluice_context_dup_result (context);
      text = sluice_json_to_string_full (result, pretty);
      printf ("%s\n", text);
    }
  fflush (stdout);

  if (!run.ok)
    {
      const GError *failure = sluice_context_get_error (context);

      g_autofree char *message = sluice_cli_printable (failure != NULL ? failure->message : "failed");

      fprintf (stderr, "sluice run: %s: %s\n", sluice_error_kind_from_error (failure), message);
      return g_error_matches (failure, SLUICE_ERROR, SLUICE_ERROR_CANCELLED)
        ? SLUICE_EXIT_INTERRUPTED : SLUICE_EXIT_FAILED;
    }
  return SLUICE_EXIT_OK;
}
