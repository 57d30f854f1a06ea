/* sluice-private.h — library-internal declarations; never installed.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "sluice.h"
#include "sluice-diagnostic-private.h"

G_BEGIN_DECLS

void     _sluice_context_count_rerun   (SluiceContext *self);
void     _sluice_context_waste_answers (SluiceContext *self);
gboolean _sluice_stage_is_synchronous (SluiceStage   *self);
gboolean _sluice_stage_has_complete   (SluiceStage   *self);

/* Loads and configures a pipeline, appending every problem to
 * diagnostics. With check_only, stages are configured but nothing runs. */
SluicePipeline *_sluice_pipeline_load (SluiceEngine *engine,
                                       const char   *path,
                                       GPtrArray    *diagnostics);

/* Joins diagnostics into one error message, one per line. */
char *_sluice_diagnostics_join (GPtrArray *diagnostics);

G_END_DECLS

G_BEGIN_DECLS
/* TRUE when libsluice runs from its build tree (tests, tools/run-demo). */
gboolean    _sluice_is_uninstalled (void);
/* Folder of shipped data (models.json): the source tree when uninstalled. */
const char *_sluice_get_data_dir   (void);
G_END_DECLS
