/* sluice-cost-sink.c — the SluiceCostSink interface.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-cost-sink"

#include "sluice.h"

G_DEFINE_INTERFACE (SluiceCostSink, sluice_cost_sink, G_TYPE_OBJECT)

static gboolean
sluice_cost_sink_real_configure (SluiceCostSink  *self,
                                 JsonObject      *config,
                                 GError         **error)
{
  return TRUE;
}

static void
sluice_cost_sink_real_flush_async (SluiceCostSink      *self,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, sluice_cost_sink_real_flush_async);
  g_task_return_boolean (task, TRUE);
}

static gboolean
sluice_cost_sink_real_flush_finish (SluiceCostSink  *self,
                                    GAsyncResult    *result,
                                    GError         **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
sluice_cost_sink_default_init (SluiceCostSinkInterface *iface)
{
  iface->configure = sluice_cost_sink_real_configure;
  iface->flush_async = sluice_cost_sink_real_flush_async;
  iface->flush_finish = sluice_cost_sink_real_flush_finish;
}

gboolean
sluice_cost_sink_configure (SluiceCostSink  *self,
                            JsonObject      *config,
                            GError         **error)
{
  GError *local_error = NULL;

  g_return_val_if_fail (SLUICE_IS_COST_SINK (self), FALSE);

  if (SLUICE_COST_SINK_GET_IFACE (self)->configure (self, config, &local_error))
    return TRUE;
  if (local_error == NULL)
    local_error = g_error_new (SLUICE_ERROR, SLUICE_ERROR_FAILED,
                               "sink %s rejected its configuration without an error",
                               G_OBJECT_TYPE_NAME (self));
  g_propagate_error (error, local_error);
  return FALSE;
}

void
sluice_cost_sink_record (SluiceCostSink *self,
                         JsonObject     *record)
{
  g_return_if_fail (SLUICE_IS_COST_SINK (self));
  g_return_if_fail (record != NULL);

  if (SLUICE_COST_SINK_GET_IFACE (self)->record != NULL)
    SLUICE_COST_SINK_GET_IFACE (self)->record (self, record);
}

void
sluice_cost_sink_flush_async (SluiceCostSink      *self,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_return_if_fail (SLUICE_IS_COST_SINK (self));
  SLUICE_COST_SINK_GET_IFACE (self)->flush_async (self, cancellable, callback, user_data);
}

gboolean
sluice_cost_sink_flush_finish (SluiceCostSink  *self,
                               GAsyncResult    *result,
                               GError         **error)
{
  GError *local_error = NULL;

  g_return_val_if_fail (SLUICE_IS_COST_SINK (self), FALSE);

  if (SLUICE_COST_SINK_GET_IFACE (self)->flush_finish (self, result, &local_error))
    return TRUE;
  if (local_error == NULL)
    local_error = g_error_new (SLUICE_ERROR, SLUICE_ERROR_FAILED,
                               "sink %s failed to flush without an error",
                               G_OBJECT_TYPE_NAME (self));
  g_propagate_error (error, local_error);
  return FALSE;
}
