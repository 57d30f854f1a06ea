/* sluice-stage.c — the SluiceStage interface, its defaults and invokers.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-stage"

#include "sluice.h"

G_DEFINE_INTERFACE (SluiceStage, sluice_stage, G_TYPE_OBJECT)

/* The default async pair runs the synchronous process() inline, so simple
 * stages (and Python stages) implement only process(). */
static void
sluice_stage_real_process_async (SluiceStage         *self,
                                 SluiceContext       *context,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  GError *error = NULL;
  SluiceVerdict verdict;

  g_task_set_source_tag (task, sluice_stage_real_process_async);
  verdict = sluice_stage_process (self, context, &error);
  if (verdict == SLUICE_VERDICT_FAIL)
    g_task_return_error (task, error);
  else
    g_task_return_int (task, verdict);
}

static SluiceVerdict
sluice_stage_real_process_finish (SluiceStage   *self,
                                  GAsyncResult  *result,
                                  GError       **error)
{
  gssize verdict = g_task_propagate_int (G_TASK (result), error);

  return verdict < 0 ? SLUICE_VERDICT_FAIL : (SluiceVerdict) verdict;
}

static SluiceVerdict
sluice_stage_real_process (SluiceStage    *self,
                           SluiceContext  *context,
                           GError        **error)
{
  return SLUICE_VERDICT_CONTINUE;
}

static void
return_true_async (SluiceStage         *self,
                   GCancellable        *cancellable,
                   GAsyncReadyCallback  callback,
                   gpointer             user_data,
                   gpointer             source_tag)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  g_task_return_boolean (task, TRUE);
}

static void
sluice_stage_real_complete_async (SluiceStage         *self,
                                  SluiceContext       *context,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  return_true_async (self, cancellable, callback, user_data, sluice_stage_real_complete_async);
}

static void
sluice_stage_real_flush_async (SluiceStage         *self,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  return_true_async (self, cancellable, callback, user_data, sluice_stage_real_flush_async);
}

static gboolean
sluice_stage_real_boolean_finish (SluiceStage   *self,
                                  GAsyncResult  *result,
                                  GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static gboolean
sluice_stage_real_configure (SluiceStage     *self,
                             SluicePipeline  *pipeline,
                             JsonObject      *config,
                             GError         **error)
{
  return TRUE;
}

static void
sluice_stage_default_init (SluiceStageInterface *iface)
{
  iface->configure = sluice_stage_real_configure;
  iface->process = sluice_stage_real_process;
  iface->process_async = sluice_stage_real_process_async;
  iface->process_finish = sluice_stage_real_process_finish;
  iface->complete_async = sluice_stage_real_complete_async;
  iface->complete_finish = sluice_stage_real_boolean_finish;
  iface->flush_async = sluice_stage_real_flush_async;
  iface->flush_finish = sluice_stage_real_boolean_finish;
}

/* A binding (Python) can return FAIL/FALSE without setting an error when
 * an exception escapes; never let that reach the runner as silence. */
static void
ensure_error (SluiceStage  *self,
              GError      **error,
              GError       *local_error,
              const char   *what)
{
  if (local_error == NULL)
    local_error = g_error_new (SLUICE_ERROR, SLUICE_ERROR_FAILED,
                               "stage %s failed in %s without an error "
                               "(an unhandled exception in a language binding?)",
                               G_OBJECT_TYPE_NAME (self), what);
  g_propagate_error (error, local_error);
}

gboolean
sluice_stage_configure (SluiceStage     *self,
                        SluicePipeline  *pipeline,
                        JsonObject      *config,
                        GError         **error)
{
  GError *local_error = NULL;

  g_return_val_if_fail (SLUICE_IS_STAGE (self), FALSE);

  if (SLUICE_STAGE_GET_IFACE (self)->configure (self, pipeline, config, &local_error))
    return TRUE;
  ensure_error (self, error, local_error, "configure");
  return FALSE;
}

SluiceVerdict
sluice_stage_process (SluiceStage    *self,
                      SluiceContext  *context,
                      GError        **error)
{
  GError *local_error = NULL;
  SluiceVerdict verdict;

  g_return_val_if_fail (SLUICE_IS_STAGE (self), SLUICE_VERDICT_FAIL);
  g_return_val_if_fail (SLUICE_IS_CONTEXT (context), SLUICE_VERDICT_FAIL);

  verdict = SLUICE_STAGE_GET_IFACE (self)->process (self, context, &local_error);
  if (verdict != SLUICE_VERDICT_FAIL)
    {
      g_clear_error (&local_error);
      return verdict;
    }
  ensure_error (self, error, local_error, "process");
  return SLUICE_VERDICT_FAIL;
}

void
sluice_stage_process_async (SluiceStage         *self,
                            SluiceContext       *context,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_return_if_fail (SLUICE_IS_STAGE (self));
  g_return_if_fail (SLUICE_IS_CONTEXT (context));

  SLUICE_STAGE_GET_IFACE (self)->process_async (self, context, cancellable, callback, user_data);
}

SluiceVerdict
sluice_stage_process_finish (SluiceStage   *self,
                             GAsyncResult  *result,
                             GError       **error)
{
  GError *local_error = NULL;
  SluiceVerdict verdict;

  g_return_val_if_fail (SLUICE_IS_STAGE (self), SLUICE_VERDICT_FAIL);

  verdict = SLUICE_STAGE_GET_IFACE (self)->process_finish (self, result, &local_error);
  if (verdict != SLUICE_VERDICT_FAIL)
    {
      g_clear_error (&local_error);
      return verdict;
    }
  ensure_error (self, error, local_error, "process_finish");
  return SLUICE_VERDICT_FAIL;
}

void
sluice_stage_complete_async (SluiceStage         *self,
                             SluiceContext       *context,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_return_if_fail (SLUICE_IS_STAGE (self));
  SLUICE_STAGE_GET_IFACE (self)->complete_async (self, context, cancellable, callback, user_data);
}

gboolean
sluice_stage_complete_finish (SluiceStage   *self,
                              GAsyncResult  *result,
                              GError       **error)
{
  GError *local_error = NULL;

  g_return_val_if_fail (SLUICE_IS_STAGE (self), FALSE);

  if (SLUICE_STAGE_GET_IFACE (self)->complete_finish (self, result, &local_error))
    return TRUE;
  ensure_error (self, error, local_error, "complete_finish");
  return FALSE;
}

void
sluice_stage_flush_async (SluiceStage         *self,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_return_if_fail (SLUICE_IS_STAGE (self));
  SLUICE_STAGE_GET_IFACE (self)->flush_async (self, cancellable, callback, user_data);
}

gboolean
sluice_stage_flush_finish (SluiceStage   *self,
                           GAsyncResult  *result,
                           GError       **error)
{
  GError *local_error = NULL;

  g_return_val_if_fail (SLUICE_IS_STAGE (self), FALSE);

  if (SLUICE_STAGE_GET_IFACE (self)->flush_finish (self, result, &local_error))
    return TRUE;
  ensure_error (self, error, local_error, "flush_finish");
  return FALSE;
}

/* The runner calls process() directly for stages that only have the
 * synchronous vfunc, and skips complete() and flush() that do nothing:
 * each saves a GTask and a main-loop dispatch per request. */
gboolean
_sluice_stage_is_synchronous (SluiceStage *self)
{
  return SLUICE_STAGE_GET_IFACE (self)->process_async == sluice_stage_real_process_async;
}

gboolean
_sluice_stage_has_complete (SluiceStage *self)
{
  return SLUICE_STAGE_GET_IFACE (self)->complete_async != sluice_stage_real_complete_async;
}
