/* sluice-cli-private.h — the subcommands of the sluice executable.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

/* Exit codes shared by every subcommand. */
enum {
  SLUICE_EXIT_OK = 0,
  SLUICE_EXIT_FAILED = 1,        /* the request (or some batch jobs) failed */
  SLUICE_EXIT_USAGE = 2,         /* bad arguments, pipeline or input file */
  SLUICE_EXIT_INTERRUPTED = 130, /* stopped by a signal; resumable */
};

int sluice_cmd_run   (int argc, char **argv);
int sluice_cmd_batch (int argc, char **argv);
int sluice_cmd_check (int argc, char **argv);
int sluice_cmd_snapshot (int argc, char **argv);
int sluice_cmd_report (int argc, char **argv);

/* Loads a pipeline, printing every problem on stderr; NULL on failure. */
SluicePipeline *sluice_cli_load_pipeline (SluiceEngine *engine,
                                          const char   *path);
JsonNode       *sluice_cli_read_input    (const char   *spec,
                                          GError      **error);
char           *sluice_cli_printable     (const char   *text);
/* Applies --no-cache / --refresh-cache; FALSE (with a message) when both
 * are given. */
gboolean        sluice_cli_set_cache_mode (SluiceEngine *engine,
                                           const char   *command,
                                           gboolean      no_cache,
                                           gboolean      refresh_cache);

G_END_DECLS
