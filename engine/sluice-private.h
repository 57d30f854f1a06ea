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

/* Tests only: pieces of at least @bytes merge through the heap, shorter
 * ones through tiktoken's scan (G_MAXSIZE: all through the scan; 0: back
 * to the default). */
void _sluice_tokenizer_set_merge_heap_min (gsize bytes);

G_END_DECLS

G_BEGIN_DECLS
/* TRUE when libsluice runs from its build tree (tests, tools/run-demo). */
gboolean    _sluice_is_uninstalled (void);
/* Folder of shipped data (models.json): the source tree when uninstalled. */
const char *_sluice_get_data_dir   (void);
const GError *_sluice_catalog_get_default_error (void);
G_END_DECLS
