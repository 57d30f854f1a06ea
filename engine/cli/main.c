/* main.c — the sluice command line: a thin dispatcher to subcommands.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "sluice-cli-private.h"

static const struct {
  const char *name;
  int       (*run) (int argc, char **argv);
  const char *summary;
} commands[] = {
  { "run", sluice_cmd_run, "run a pipeline on one input" },
  { "batch", sluice_cmd_batch, "run a pipeline over a JSONL file of jobs (resumable)" },
  { "check", sluice_cmd_check, "check pipeline files without running them" },
  { "snapshot", sluice_cmd_snapshot, "render the request a pipeline would send; diff it with its snapshot" },
  { "report", sluice_cmd_report, "figures from the ledger: cost, latency, failures, SLOs" },
};

static void
print_usage (FILE *out)
{
  fprintf (out, "Usage: sluice COMMAND [OPTION…]\n\nCommands:\n");
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %-8s %s\n", commands[i].name, commands[i].summary);
  fprintf (out, "\nOptions:\n  --version  print the version\n  --help     this text\n\n"
                "Run 'sluice COMMAND --help' for a command's options.\n");
}

/* Every log line goes to standard error: standard output carries the
 * command's result (JSON for run), which G_MESSAGES_DEBUG must not break.
 * What is shown is what GLib's default writer would show. */
static GLogWriterOutput
write_to_stderr (GLogLevelFlags   level,
                 const GLogField *fields,
                 gsize            n_fields,
                 gpointer         user_data)
{
  g_autofree char *line = NULL;
  const char *domain = NULL;

  for (gsize i = 0; i < n_fields; i++)
    if (g_strcmp0 (fields[i].key, "GLIB_DOMAIN") == 0)
      domain = fields[i].value;
  if (g_log_writer_default_would_drop (level, domain))
    return G_LOG_WRITER_HANDLED;
  line = g_log_writer_format_fields (level, fields, n_fields, g_log_writer_supports_color (fileno (stderr)));
  fprintf (stderr, "%s\n", line);
  fflush (stderr);
  return G_LOG_WRITER_HANDLED;
}

int
main (int    argc,
      char **argv)
{
  setlocale (LC_ALL, "");
  g_log_set_writer_func (write_to_stderr, NULL, NULL);

  if (argc < 2)
    {
      print_usage (stderr);
      return SLUICE_EXIT_USAGE;
    }
  if (strcmp (argv[1], "--version") == 0 || strcmp (argv[1], "version") == 0)
    {
      printf ("sluice %s\n", SLUICE_VERSION);
      return SLUICE_EXIT_OK;
    }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "help") == 0)
    {
      print_usage (stdout);
      return SLUICE_EXIT_OK;
    }

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].run (argc - 1, argv + 1);

  fprintf (stderr, "sluice: unknown command '%s'\n\n", argv[1]);
  print_usage (stderr);
  return SLUICE_EXIT_USAGE;
}
