/* sluice-stage.h — the extension point for one step of a pipeline.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (SLUICE_INSIDE) && !defined (SLUICE_COMPILATION)
# error "Only <sluice.h> can be included directly."
#endif

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "sluice-context.h"

G_BEGIN_DECLS

typedef struct _SluicePipeline SluicePipeline;

/**
 * SluiceVerdict:
 * @SLUICE_VERDICT_CONTINUE: go on to the next stage
 * @SLUICE_VERDICT_RESPOND: the output is ready (e.g. a cache hit): skip the
 *   stages up to the last `call`, `parse` or `validate`, and run those after
 *   it (`format`, say), which shape an output rather than make one
 * @SLUICE_VERDICT_RERUN: run again from the stage named with
 *   sluice_context_request_rerun() (bounded)
 * @SLUICE_VERDICT_FAIL: the request fails with the stage's error
 *
 * What a stage decided about a request.
 */
typedef enum {
  SLUICE_VERDICT_CONTINUE,
  SLUICE_VERDICT_RESPOND,
  SLUICE_VERDICT_RERUN,
  SLUICE_VERDICT_FAIL,
} SluiceVerdict;

#define SLUICE_TYPE_STAGE (sluice_stage_get_type ())
G_DECLARE_INTERFACE (SluiceStage, sluice_stage, SLUICE, STAGE, GObject)

/**
 * SluiceStageInterface:
 * @configure: read the stage's block of the pipeline file; called once
 * @process: synchronous processing; the default @process_async runs it
 * @process_async: process a request on its way in
 * @process_finish: finish @process_async; the default returns the verdict
 *   that @process_async's #GTask returned with g_task_return_int() (or its
 *   error), so a stage built on #GTask may leave it unset
 * @complete_async: optional; runs on the way out, in reverse stage order,
 *   for every stage of the pipeline whether or not the request reached it
 *   (read the context for the outcome)
 * @complete_finish: finish @complete_async
 * @flush_async: optional; write out anything buffered (sinks, caches)
 * @flush_finish: finish @flush_async
 *
 * Implement @process (simple stages, and most Python stages) or the
 * @process_async / @process_finish pair (stages that wait).
 * One stage instance serves every request of its pipeline, concurrently:
 * keep per-request state in the #SluiceContext.
 */
struct _SluiceStageInterface
{
  GTypeInterface parent_iface;

  gboolean      (*configure)       (SluiceStage          *self,
                                    SluicePipeline       *pipeline,
                                    JsonObject           *config,
                                    GError              **error);
  SluiceVerdict (*process)         (SluiceStage          *self,
                                    SluiceContext        *context,
                                    GError              **error);
  void          (*process_async)   (SluiceStage          *self,
                                    SluiceContext        *context,
                                    GCancellable         *cancellable,
                                    GAsyncReadyCallback   callback,
                                    gpointer              user_data);
  SluiceVerdict (*process_finish)  (SluiceStage          *self,
                                    GAsyncResult         *result,
                                    GError              **error);
  void          (*complete_async)  (SluiceStage          *self,
                                    SluiceContext        *context,
                                    GCancellable         *cancellable,
                                    GAsyncReadyCallback   callback,
                                    gpointer              user_data);
  gboolean      (*complete_finish) (SluiceStage          *self,
                                    GAsyncResult         *result,
                                    GError              **error);
  void          (*flush_async)     (SluiceStage          *self,
                                    GCancellable         *cancellable,
                                    GAsyncReadyCallback   callback,
                                    gpointer              user_data);
  gboolean      (*flush_finish)    (SluiceStage          *self,
                                    GAsyncResult         *result,
                                    GError              **error);

  /*< private >*/
  gpointer padding[8];
};

/**
 * sluice_stage_configure:
 * @self: a #SluiceStage
 * @pipeline: the pipeline the stage belongs to
 * @config: (transfer none): the stage's configuration block
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the configuration was accepted
 */
gboolean      sluice_stage_configure       (SluiceStage          *self,
                                            SluicePipeline       *pipeline,
                                            JsonObject           *config,
                                            GError              **error);
/**
 * sluice_stage_process:
 * @self: a #SluiceStage
 * @context: the request
 * @error: return location for a #GError
 *
 * Returns: the verdict; %SLUICE_VERDICT_FAIL always comes with @error set
 */
SluiceVerdict sluice_stage_process         (SluiceStage          *self,
                                            SluiceContext        *context,
                                            GError              **error);
/**
 * sluice_stage_process_async:
 * @self: a #SluiceStage
 * @context: the request
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when done
 * @user_data: (closure): data for @callback
 */
void          sluice_stage_process_async   (SluiceStage          *self,
                                            SluiceContext        *context,
                                            GCancellable         *cancellable,
                                            GAsyncReadyCallback   callback,
                                            gpointer              user_data);
/**
 * sluice_stage_process_finish:
 * @self: a #SluiceStage
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: the verdict; %SLUICE_VERDICT_FAIL always comes with @error set
 */
SluiceVerdict sluice_stage_process_finish  (SluiceStage          *self,
                                            GAsyncResult         *result,
                                            GError              **error);
/**
 * sluice_stage_complete_async:
 * @self: a #SluiceStage
 * @context: the request, finished or failed
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when done
 * @user_data: (closure): data for @callback
 */
void          sluice_stage_complete_async  (SluiceStage          *self,
                                            SluiceContext        *context,
                                            GCancellable         *cancellable,
                                            GAsyncReadyCallback   callback,
                                            gpointer              user_data);
/**
 * sluice_stage_complete_finish:
 * @self: a #SluiceStage
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean      sluice_stage_complete_finish (SluiceStage          *self,
                                            GAsyncResult         *result,
                                            GError              **error);
/**
 * sluice_stage_flush_async:
 * @self: a #SluiceStage
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when done
 * @user_data: (closure): data for @callback
 */
void          sluice_stage_flush_async     (SluiceStage          *self,
                                            GCancellable         *cancellable,
                                            GAsyncReadyCallback   callback,
                                            gpointer              user_data);
/**
 * sluice_stage_flush_finish:
 * @self: a #SluiceStage
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean      sluice_stage_flush_finish    (SluiceStage          *self,
                                            GAsyncResult         *result,
                                            GError              **error);

G_END_DECLS
