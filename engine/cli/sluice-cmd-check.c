/* sluice-cmd-check.c — `sluice check PIPELINE…`
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>

#include "sluice-cli-private.h"
#include "sluice-private.h"

/* File order: a person reads the problems top to bottom. Those in other
 * files (a template's partials) come after the pipeline file's, each
 * file's together. */
static gint
compare_positions (gconstpointer a,
                   gconstpointer b,
                   gpointer      pipeline_path)
{
  const SluiceDiagnostic *x = *(SluiceDiagnostic * const *) a;
  const SluiceDiagnostic *y = *(SluiceDiagnostic * const *) b;

  if (g_strcmp0 (x->file, y->file) != 0)
    {
      if (g_strcmp0 (x->file, pipeline_path) == 0)
        return -1;
      if (g_strcmp0 (y->file, pipeline_path) == 0)
        return 1;
      return g_strcmp0 (x->file, y->file);
    }
  if (x->line != y->line)
    return x->line < y->line ? -1 : 1;
  return (x->column > y->column) - (x->column < y->column);
}

SluicePipeline *
sluice_cli_load_pipeline (SluiceEngine *engine,
                          const char   *path)
{
  g_autoptr(GPtrArray) diagnostics = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_diagnostic_free);
  SluicePipeline *pipeline = _sluice_pipeline_load (engine, path, diagnostics);

  g_ptr_array_sort_with_data (diagnostics, compare_positions, (gpointer) path);
  for (guint i = 0; i < diagnostics->len; i++)
    {
      g_autofree char *line = sluice_diagnostic_to_string (g_ptr_array_index (diagnostics, i));
      fprintf (stderr, "%s\n", line);
    }
  return pipeline;
}

int
sluice_cmd_check (int    argc,
                  char **argv)
{
  g_autoptr(GOptionContext) options = g_option_context_new ("PIPELINE… — check pipeline files");
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceEngine) engine = NULL;
  int status = SLUICE_EXIT_OK;

  g_option_context_set_summary (options,
    "Checks each pipeline file without running it: syntax, environment\n"
    "variables, every stage name and every stage's configuration. All\n"
    "problems are reported as file:line:col: message.");
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      fprintf (stderr, "sluice check: %s\n", error->message);
      return SLUICE_EXIT_USAGE;
    }
  if (argc < 2)
    {
      fprintf (stderr, "sluice check: name at least one pipeline file\n");
      return SLUICE_EXIT_USAGE;
    }

  engine = sluice_engine_new ();
  for (int i = 1; i < argc; i++)
    {
      g_autoptr(SluicePipeline) pipeline = sluice_cli_load_pipeline (engine, argv[i]);

      if (pipeline == NULL)
        status = SLUICE_EXIT_FAILED;
      else
        printf ("%s: ok (pipeline '%s', %u stage%s)\n", argv[i],
                sluice_pipeline_get_name (pipeline), sluice_pipeline_get_n_stages (pipeline),
                sluice_pipeline_get_n_stages (pipeline) == 1 ? "" : "s");
    }
  return status;
}
