/* sluice-diagnostic-private.h: problems found in a file, with their positions
 *
 * Private to libsluice.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * SluiceDiagnostic:
 * @file: (nullable): the file name as given by the caller
 * @line: 1-based line, 0 when unknown
 * @column: 1-based column (in characters), 0 when unknown
 * @is_warning: %TRUE for a warning, %FALSE for an error
 * @message: what is wrong, in one sentence without a trailing period
 *
 * One problem found while reading or checking a file.
 */
typedef struct {
  char    *file;
  guint    line;
  guint    column;
  gboolean is_warning;
  char    *message;
} SluiceDiagnostic;

SluiceDiagnostic *sluice_diagnostic_new          (const char             *file,
                                                  guint                   line,
                                                  guint                   column,
                                                  gboolean                is_warning,
                                                  const char             *message);
void              sluice_diagnostic_free         (SluiceDiagnostic       *d);
char             *sluice_diagnostic_to_string    (const SluiceDiagnostic *d);

void              sluice_diagnostics_add         (GPtrArray              *diagnostics,
                                                  const char             *file,
                                                  guint                   line,
                                                  guint                   column,
                                                  gboolean                is_warning,
                                                  const char             *format,
                                                  ...) G_GNUC_PRINTF (6, 7);
guint             sluice_diagnostics_count_errors (GPtrArray             *diagnostics);

const char       *sluice_suggest                 (const char             *word,
                                                  const char * const     *candidates);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SluiceDiagnostic, sluice_diagnostic_free)

G_END_DECLS
