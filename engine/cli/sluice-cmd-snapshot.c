/* sluice-cmd-snapshot.c — `sluice snapshot PIPELINE INPUT.json [--update]`
 *
 * Runs the pipeline on the input as a dry run: every stage before the
 * `call` runs as it would (sanitize, templates, token counts, checks),
 * and the call stage renders the request its first target would be sent
 * (path, headers with credentials masked, body) instead of sending it.
 * The rendering is compared with the snapshot file: the first run writes
 * it, a later run prints a unified diff and exits 1 when the request
 * changed, so that CI catches a prompt change before it ships.
 *
 * The base URL is left out (it often comes from the environment, and
 * where a request goes is not what it says); the path after it is kept.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "sluice-cli-private.h"

typedef struct {
  GMainLoop *loop;
  gboolean   ok;
} Run;

static void
on_processed (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Run *run = user_data;

  run->ok = sluice_pipeline_process_finish (SLUICE_PIPELINE (source), result, NULL);
  g_main_loop_quit (run->loop);
}

/* __snapshots__/PIPELINE-INPUT.snap beside the pipeline file. */
static char *
default_snapshot_path (const char *pipeline_path,
                       const char *input_path)
{
  g_autofree char *dir = g_path_get_dirname (pipeline_path);
  g_autofree char *pipeline_name = g_path_get_basename (pipeline_path);
  g_autofree char *input_name = g_path_get_basename (input_path);
  g_autofree char *file = NULL;
  char *dot;

  if ((dot = strrchr (pipeline_name, '.')) != NULL)
    *dot = '\0';
  if ((dot = strrchr (input_name, '.')) != NULL && dot != input_name)
    *dot = '\0';
  file = g_strdup_printf ("%s-%s.snap", pipeline_name, input_name);
  if (g_str_equal (dir, "."))
    return g_build_filename ("__snapshots__", file, NULL);
  return g_build_filename (dir, "__snapshots__", file, NULL);
}

/* The request as the snapshot holds it: the URL made relative to the
 * target's base URL. */
static char *
render_snapshot (JsonObject *rendered,
                 JsonNode   *input,
                 const char *base_url)
{
  JsonObject *request = json_object_get_object_member (rendered, "request");
  const char *url = json_object_get_string_member_with_default (request, "url", "");
  g_autoptr(JsonObject) snapshot = json_object_new ();
  g_autoptr(JsonObject) shown = json_object_new ();
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *text = NULL;
  gsize base_len = base_url != NULL ? strlen (base_url) : 0;

  while (base_len > 0 && base_url[base_len - 1] == '/')
    base_len--;   /* the provider's base URL has no trailing slash */

  /* as the call stage rendered it: credentials scrubbed by the pipeline */
  json_object_set_member (snapshot, "input",
                          json_node_copy (json_object_has_member (rendered, "input")
                                          ? json_object_get_member (rendered, "input") : input));
  json_object_set_string_member (snapshot, "target", json_object_get_string_member (rendered, "target"));
  json_object_set_string_member (snapshot, "provider", json_object_get_string_member (rendered, "provider"));
  json_object_set_string_member (snapshot, "model", json_object_get_string_member (rendered, "model"));

  json_object_set_string_member (shown, "method", json_object_get_string_member (request, "method"));
  json_object_set_string_member (shown, "path",
                                 base_len > 0 && strncmp (url, base_url, base_len) == 0 ? url + base_len : url);
  json_object_set_member (shown, "headers", json_node_copy (json_object_get_member (request, "headers")));
  /* the body's size says nothing the body does not */
  json_object_remove_member (json_object_get_object_member (shown, "headers"), "Content-Length");
  if (json_object_has_member (request, "body"))
    json_object_set_member (shown, "body", json_node_copy (json_object_get_member (request, "body")));
  json_object_set_object_member (snapshot, "request", g_steal_pointer (&shown));

  node = json_node_init_object (json_node_alloc (), snapshot);
  text = sluice_json_to_string_full (node, TRUE);
  return g_strconcat (text, "\n", NULL);
}

/* `diff -u` of the stored snapshot and the new rendering, on stdout. */
static void
print_diff (const char *path,
            const char *now)
{
  g_autofree char *now_path = NULL;
  g_autofree char *old_label = g_strdup_printf ("%s (stored)", path);
  g_autofree char *new_label = g_strdup_printf ("%s (now)", path);
  g_autofree char *out = NULL;
  g_autoptr(GError) error = NULL;
  int fd = g_file_open_tmp ("sluice-snapshot-XXXXXX", &now_path, &error);

  if (fd < 0 || !g_file_set_contents (now_path, now, -1, &error))
    {
      fprintf (stderr, "sluice snapshot: cannot show the diff: %s\n", error->message);
      if (fd >= 0)
        close (fd);
      return;
    }
  close (fd);
  {
    const char *argv[] = { "diff", "-u", "--label", old_label, "--label", new_label, path, now_path, NULL };

    if (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                      NULL, NULL, &out, NULL, NULL, &error))
      fputs (out, stdout);
    else
      fprintf (stderr, "sluice snapshot: cannot run diff: %s\n", error->message);
  }
  g_unlink (now_path);
}

static gboolean
write_snapshot (const char *path,
                const char *text)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autoptr(GError) error = NULL;

  if (g_mkdir_with_parents (dir, 0755) != 0 || !g_file_set_contents (path, text, -1, &error))
    {
      fprintf (stderr, "sluice snapshot: cannot write %s: %s\n", path,
               error != NULL ? error->message : g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

int
sluice_cmd_snapshot (int    argc,
                     char **argv)
{
  g_autofree char *snapshot_path = NULL;
  gboolean update = FALSE;
  gboolean ci = FALSE;
  GOptionEntry entries[] = {
    { "update", 'u', 0, G_OPTION_ARG_NONE, &update, "Write the new rendering over the snapshot", NULL },
    { "snapshot", 's', 0, G_OPTION_ARG_FILENAME, &snapshot_path,
      "The snapshot file (default __snapshots__/PIPELINE-INPUT.snap beside the pipeline)", "PATH" },
    { "ci", 0, 0, G_OPTION_ARG_NONE, &ci, "A missing snapshot is a failure, not written", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) options = g_option_context_new ("PIPELINE INPUT.json — render the request a pipeline would send");
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceEngine) engine = NULL;
  g_autoptr(SluicePipeline) pipeline = NULL;
  g_autoptr(JsonNode) input = NULL;
  g_autoptr(SluiceContext) context = NULL;
  g_autofree char *input_spec = NULL;
  g_autofree char *now = NULL;
  g_autofree char *stored = NULL;
  JsonNode *output;
  JsonObject *target;
  Run run = { 0 };

  g_option_context_add_main_entries (options, entries, NULL);
  g_option_context_set_summary (options,
    "Runs the stages before the call as a dry run (nothing is sent or spent)\n"
    "and renders the request the call would send, credentials masked. The\n"
    "first run writes the snapshot; later runs print a diff and exit 1 when\n"
    "the request changed (--update accepts the change).");
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      fprintf (stderr, "sluice snapshot: %s\n", error->message);
      return SLUICE_EXIT_USAGE;
    }
  if (argc != 3)
    {
      fprintf (stderr, "sluice snapshot: name a pipeline file and an input file (see --help)\n");
      return SLUICE_EXIT_USAGE;
    }
  if (g_str_equal (argv[2], "-") && snapshot_path == NULL)
    {
      fprintf (stderr, "sluice snapshot: an input from standard input needs --snapshot PATH\n");
      return SLUICE_EXIT_USAGE;
    }
  input_spec = g_str_equal (argv[2], "-") ? g_strdup ("-") : g_strconcat ("@", argv[2], NULL);
  input = sluice_cli_read_input (input_spec, &error);
  if (input == NULL)
    {
      fprintf (stderr, "sluice snapshot: %s\n", error->message);
      return SLUICE_EXIT_USAGE;
    }
  if (snapshot_path == NULL)
    snapshot_path = default_snapshot_path (argv[1], argv[2]);

  engine = sluice_engine_new ();
  pipeline = sluice_cli_load_pipeline (engine, argv[1]);
  if (pipeline == NULL)
    return SLUICE_EXIT_USAGE;

  context = sluice_context_new (input);
  sluice_context_set_dry_run (context, TRUE);
  run.loop = g_main_loop_new (NULL, FALSE);
  sluice_pipeline_process_async (pipeline, context, NULL, on_processed, &run);
  g_main_loop_run (run.loop);
  g_main_loop_unref (run.loop);

  if (!run.ok)
    {
      const GError *failure = sluice_context_get_error (context);
      g_autofree char *message = sluice_cli_printable (failure != NULL ? failure->message : "failed");

      /* 2, as diff says trouble: 1 is kept for "the request changed" */
      fprintf (stderr, "sluice snapshot: %s: %s\n", sluice_error_kind_from_error (failure), message);
      return SLUICE_EXIT_USAGE;
    }
  output = sluice_context_get_output (context);
  if (output == NULL || !JSON_NODE_HOLDS_OBJECT (output) ||
      !json_object_has_member (json_node_get_object (output), "request"))
    {
      fprintf (stderr, "sluice snapshot: %s has no call stage: there is no request to render\n", argv[1]);
      return SLUICE_EXIT_USAGE;
    }
  target = sluice_context_get_target (context);
  {
    JsonObject *request = json_object_get_object_member (json_node_get_object (output), "request");
    const char *base_url = json_object_get_string_member_with_default (request, "base_url", NULL);

    /* the provider's own base URL (its default when the target gives none) */
    if (base_url == NULL && target != NULL)
      base_url = json_object_get_string_member_with_default (target, "base_url", NULL);
    now = render_snapshot (json_node_get_object (output), input, base_url);
  }

  if (update || !g_file_test (snapshot_path, G_FILE_TEST_EXISTS))
    {
      if (!update && ci)
        {
          fprintf (stderr, "sluice snapshot: %s does not exist (run without --ci to write it)\n", snapshot_path);
          return SLUICE_EXIT_FAILED;
        }
      if (!write_snapshot (snapshot_path, now))
        return SLUICE_EXIT_USAGE;
      printf ("snapshot written: %s\n", snapshot_path);
      return SLUICE_EXIT_OK;
    }

  if (!g_file_get_contents (snapshot_path, &stored, NULL, &error))
    {
      fprintf (stderr, "sluice snapshot: %s\n", error->message);
      return SLUICE_EXIT_USAGE;
    }
  if (g_str_equal (stored, now))
    {
      printf ("snapshot matches: %s\n", snapshot_path);
      return SLUICE_EXIT_OK;
    }
  print_diff (snapshot_path, now);
  fprintf (stderr, "sluice snapshot: the request changed from %s (run with --update to accept it)\n", snapshot_path);
  return SLUICE_EXIT_FAILED;
}
